"""The GUI's one palette: every text colour and the background it is drawn on.

One dark theme for the whole window (the video and the plots are dark, so the panels are
too: a light panel beside them made status texts 1.5-2.4:1). Every (text, background) pair
used by a widget is listed in :data:`TEXT_PAIRS`; ``tests/gui/test_palette.py`` checks each
reaches the WCAG AA contrast of 4.5:1. Widgets take their colours from here, never inline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PyQt6.QtWidgets import QApplication

#: Panels, inputs, plots.
WINDOW = "#1e1f24"
BASE = "#2a2b31"  # line edits, lists, tables
BUTTON = "#383a42"
VIDEO_BG = "#19191c"
TEXT = "#ececef"
MUTED = "#b4b6bd"  # secondary text (hints, units)
DISABLED_TEXT = "#aeb0b7"  # on BUTTON, still readable
HIGHLIGHT = "#2f6fc0"

#: Status texts on WINDOW / BASE.
OK = "#7fdc8f"
ERROR = "#ff8a80"
WARN = "#ffc266"
INFO = "#8cc8ff"

#: Filled badges (state header, banner, buttons): background with white or dark text.
BADGE_TEXT = "#ffffff"
BADGE_DARK_TEXT = "#111114"
STATE_COLOURS: dict[str, tuple[str, str]] = {
    # state: (background, text)
    "IDLE": ("#44464f", BADGE_TEXT),
    "PREVIEW": ("#44464f", BADGE_TEXT),
    "ARMING": ("#8a5a00", BADGE_TEXT),
    "RUNNING": ("#1b6e2f", BADGE_TEXT),
    "PAUSED": ("#ffc266", BADGE_DARK_TEXT),
    "STOPPING": ("#8a5a00", BADGE_TEXT),
    "COMPLETE": ("#1b6e2f", BADGE_TEXT),
    "STOPPED": ("#2d5a8a", BADGE_TEXT),
    "E-STOPPED": ("#b3261e", BADGE_TEXT),
    "INCOMPLETE": ("#b3261e", BADGE_TEXT),
}
BANNER_COLOURS: dict[str, str] = {
    "error": "#8b1a1a",
    "warning": "#7a5c00",
    "info": "#1d4d7a",
}
START_BG = "#1b6e2f"
ESTOP_BG = "#b3261e"
LASER_ON_BG = "#1e5fd0"
LASER_OFF_BG = "#3a3a40"
LASER_OFF_TEXT = "#d0d0d4"

#: Compartment label colours drawn on the video (with a black outline) and in plots.
ZONE_TEXT: dict[str, str] = {"left": "#e69f00", "right": "#00c08b", "neutral": "#c8c8c8"}
OUTLINE = "#000000"

#: Every text/background pair a widget draws (checked by the contrast test).
TEXT_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("text on window", TEXT, WINDOW),
    ("text on input", TEXT, BASE),
    ("text on button", TEXT, BUTTON),
    ("muted on window", MUTED, WINDOW),
    ("muted on input", MUTED, BASE),
    ("disabled button text", DISABLED_TEXT, BUTTON),
    ("disabled text on window", DISABLED_TEXT, WINDOW),
    ("disabled text on input", DISABLED_TEXT, BASE),
    ("ok on window", OK, WINDOW),
    ("ok on input", OK, BASE),
    ("error on window", ERROR, WINDOW),
    ("error on input", ERROR, BASE),
    ("warning on window", WARN, WINDOW),
    ("warning on input", WARN, BASE),
    ("info on window", INFO, WINDOW),
    ("text on highlight", BADGE_TEXT, HIGHLIGHT),
    ("start button", BADGE_TEXT, START_BG),
    ("e-stop button", BADGE_TEXT, ESTOP_BG),
    ("laser on", BADGE_TEXT, LASER_ON_BG),
    ("laser off", LASER_OFF_TEXT, LASER_OFF_BG),
    *((f"banner {k}", BADGE_TEXT, v) for k, v in BANNER_COLOURS.items()),
    *((f"state {k}", fg, bg) for k, (bg, fg) in STATE_COLOURS.items()),
    *((f"zone label {k} (outlined)", v, OUTLINE) for k, v in ZONE_TEXT.items()),
    ("plot text", TEXT, VIDEO_BG),
    ("video tag", WARN, OUTLINE),
)


def _channel(c: float) -> float:
    c /= 255.0
    return c / 12.92 if c <= 0.03928 else float(((c + 0.055) / 1.055) ** 2.4)


def luminance(colour: str) -> float:
    """WCAG relative luminance of a ``#rrggbb`` colour."""
    value = colour.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio (1..21)."""
    a, b = luminance(foreground), luminance(background)
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def style(colour: str, bold: bool = False) -> str:
    """A label style sheet for a status text colour."""
    return f"color:{colour};" + (" font-weight:bold;" if bold else "")


def apply(app: QApplication) -> None:
    """Give the whole application the dark Fusion palette (every window, every dialog)."""
    from PyQt6.QtGui import QColor, QPalette

    app.setStyle("Fusion")
    palette = QPalette()
    roles = QPalette.ColorRole
    for role, colour in (
        (roles.Window, WINDOW),
        (roles.WindowText, TEXT),
        (roles.Base, BASE),
        (roles.AlternateBase, WINDOW),
        (roles.Text, TEXT),
        (roles.Button, BUTTON),
        (roles.ButtonText, TEXT),
        (roles.ToolTipBase, BASE),
        (roles.ToolTipText, TEXT),
        (roles.PlaceholderText, MUTED),
        (roles.Highlight, HIGHLIGHT),
        (roles.HighlightedText, BADGE_TEXT),
        (roles.BrightText, ERROR),
        (roles.Link, INFO),
    ):
        palette.setColor(role, QColor(colour))
    group = QPalette.ColorGroup.Disabled
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        palette.setColor(group, role, QColor(DISABLED_TEXT))
    app.setPalette(palette)
