"""The GUI palette: every text/background pair reaches WCAG AA contrast (4.5:1).

Fails on the old code, whose status colours (#8fd18f, #ff6b6b, #ffb74d) on the light
default panel were 1.5-2.4:1."""

from __future__ import annotations

import pytest

from rig.gui import palette


@pytest.mark.parametrize("name,foreground,background", palette.TEXT_PAIRS, ids=[p[0] for p in palette.TEXT_PAIRS])
def test_text_contrast_is_at_least_4_5(name: str, foreground: str, background: str) -> None:
    assert palette.contrast(foreground, background) >= 4.5, name


def test_contrast_formula_matches_wcag_reference_values() -> None:
    assert palette.contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert palette.contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_old_status_colours_on_a_light_panel_would_fail() -> None:
    # The pre-issue-15 label colours on Qt's light default window colour.
    for colour in ("#8fd18f", "#ff6b6b", "#ffb74d"):
        assert palette.contrast(colour, "#efefef") < 4.5


def test_every_state_has_a_colour_and_the_app_palette_applies(qtbot) -> None:
    from PyQt6.QtGui import QPalette
    from PyQt6.QtWidgets import QApplication

    from rig.gui.states import HeaderState

    assert {s.value for s in HeaderState} <= set(palette.STATE_COLOURS)
    app = QApplication.instance()
    palette.apply(app)
    window = app.palette().color(QPalette.ColorRole.Window).name()
    text = app.palette().color(QPalette.ColorRole.WindowText).name()
    assert palette.contrast(text, window) >= 4.5
