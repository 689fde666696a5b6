"""The main window: layout and wiring only (set-up panel | live view | live plots).

Threads: everything here runs on the GUI thread. The engine runs in the controller's
worker thread; after each processed frame (at most DISPLAY_HZ a second) the bridge asks for
a redraw, which pulls ``runner.latest_update()`` and ``runner.status`` and drains the frame
samples, so drawing happens in the loop's idle time and never slows it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QEvent, QObject, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QCloseEvent, QKeyEvent
from PyQt6.QtWidgets import QApplication, QMainWindow, QMessageBox, QScrollArea, QSplitter, QWidget

from rig.gui.controller import RunnerFactory, SessionController, make_runner
from rig.gui.settings import SetupChoices, load_choices, save_choices
from rig.gui import palette
from rig.gui.states import HeaderState, HeaderText, end_reason_text
from rig.gui.widgets.fault_banner import END_ACTIONS
from rig.gui.widgets.live_plots import LivePlots
from rig.gui.widgets.live_view import LiveView
from rig.gui.widgets.setup_panel import SetupPanel
from rig.gui.widgets.status_bar import SessionStatusBar
from rig.gui.widgets.summary_dialog import SummaryDialog, open_path
from rig.gui.widgets.video_view import ZoneOverlay, zone_colour

log = logging.getLogger(__name__)

#: Display refresh (video + status), and plots every N display ticks (1 Hz: a pyqtgraph
#: repaint holds the GIL for milliseconds, so plots are redrawn rarely). Redraws follow the
#: engine's frames (``SessionBridge.frame_ready``), so they fall in the loop's idle time; a
#: slow timer redraws when no frame comes (arming, pause).
DISPLAY_HZ = 30
IDLE_REFRESH_MS = 100
PLOT_EVERY_TICKS = 30
#: Status texts (phase, progress, status bar) every N display ticks (10 Hz).
STATUS_EVERY_TICKS = 3

#: Below this window width the plots go under the video instead of beside it.
WIDE_LAYOUT_MIN_WIDTH = 1500
SETUP_WIDTH = 400
SETUP_MIN_WIDTH = 360

ConfirmFn = Callable[[QWidget, str, str], bool]


#: The buttons of the close-while-running question say what they do.
CLOSE_YES = "Stop session and close"
CLOSE_NO = "Keep running"


def ask_confirmation(parent: QWidget, title: str, text: str) -> bool:
    """Stop-and-close or keep running (the production confirm function; tests inject their
    own). The default button is "Keep running": Enter must not end a session."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.NoButton, parent)
    yes = box.addButton(CLOSE_YES, QMessageBox.ButtonRole.DestructiveRole)
    no = box.addButton(CLOSE_NO, QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(no)
    box.exec()
    return box.clickedButton() is yes


def ask_calibration_target(parent: QWidget, path: Path, protocol_name: str) -> str:
    """Where a newly saved calibration goes: "protocol", "rig" or "none"."""
    box = QMessageBox(QMessageBox.Icon.Question, "Use the new calibration?",
                      f"Saved {path}.\nUse it for the next sessions?", QMessageBox.StandardButton.NoButton, parent)
    use = box.addButton(f"Use with protocol '{protocol_name}'", QMessageBox.ButtonRole.AcceptRole)
    rig = None
    if getattr(parent, "rig_path", None):
        rig = box.addButton("Write into the rig file", QMessageBox.ButtonRole.ActionRole)
    later = box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(use)
    box.exec()
    clicked = box.clickedButton()
    if clicked is use:
        return "protocol"
    if rig is not None and clicked is rig:
        return "rig"
    _ = later
    return "none"


class EscapeStop(QObject):
    """Application-wide event filter: Esc in ANY optorig window (main window, summary,
    calibration editor, a message box) is an emergency stop while a session runs; with no
    session, Esc goes on to the widget as usual (so it still closes a dialog).

    Replaces an application-wide QShortcut, which took Esc from every dialog even when no
    session ran. Qt only sees keys while one of this application's windows is active; a
    system-wide hotkey is not portable (see docs/gui.md), hence the big E-STOP button."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.stops = 0

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:  # noqa: N802
        if (
            event is not None
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Escape
            and self._window.session_active
        ):
            self.stops += 1
            self._window.emergency_stop()
            return True  # consumed: a dialog must not also close on this key
        return False


#: Events shown in the banner while the session continues.
WARNING_EVENTS = {
    "safety_continuous_limit": (
        "Continuous-on limit reached",
        "The light was forced off for the protocol's forced-off period; the session continues.",
    ),
    "safety_total_limit": (
        "Total light-on limit reached",
        "No more light this session (or the session stops, as the protocol says).",
    ),
    "board_watchdog": (
        "Board watchdog fired",
        "The board stopped hearing the host and closed the laser gate by itself.",
    ),
    "board_cap": ("Board safety cap", "The firmware closed the gate at its own on-time cap."),
}


def zone_overlays(loaded: Any, stim_side: str = "") -> tuple[list[tuple[float, float]], list[ZoneOverlay]]:
    """Arena outline and compartment polygons in image pixels for a loaded protocol."""
    from rig.calibration import PixelMapper
    from rig.zones import ZoneMap

    calibration = loaded.calibration
    zone_map = ZoneMap.from_protocol(loaded.protocol.arena, calibration)
    mapper = PixelMapper(calibration)
    overlays = []
    for zone, polygon in zone_map.polygons_px(mapper).items():
        name = str(zone.value)
        lit = loaded.protocol.arena.stimulated_zones or [stim_side]
        label = name.upper() + (" (stim)" if name in lit else "")
        if name == "neutral":
            label = ""
        overlays.append(
            ZoneOverlay(name, tuple(polygon), zone_colour(name), label)
        )
    return [(float(x), float(y)) for x, y in calibration.corners_px], overlays


class MainWindow(QMainWindow):
    session_finished = pyqtSignal(object)  # RunnerStatus (after the GUI handled it)

    def __init__(
        self,
        runner_factory: RunnerFactory = make_runner,
        confirm: ConfirmFn = ask_confirmation,
        opener: Callable[[Path], None] = open_path,
        show_summary: bool = True,
        build_report: bool = True,
        choose_target: Callable[[QWidget, Path, str], str] | None = None,
    ) -> None:
        super().__init__()
        self._choose_target = choose_target or ask_calibration_target
        self.setWindowTitle("optorig — closed-loop place preference")
        app = QApplication.instance()
        if isinstance(app, QApplication):
            palette.apply(app)
        self.preview_warning = ""
        self._preview_checked = False
        self._confirm = confirm
        self._opener = opener
        self._show_summary = show_summary
        self._build_report = build_report
        self.controller = SessionController(runner_factory, self)
        self.setup_panel = SetupPanel()
        self.live_view = LiveView()
        self.plots = LivePlots()
        self.status_bar = SessionStatusBar()
        self.setStatusBar(self.status_bar)
        self.summary_dialog: SummaryDialog | None = None
        self.last_status: Any = None
        self._close_after_finish = False
        #: True from Start until the engine reported the end (or crashed).
        self.session_active = False
        self._last_frame_index = -1
        self._tick = 0
        self._stim_side = ""
        self._shown_update: Any = None
        self._arranged = False

        scroll = QScrollArea()
        scroll.setWidget(self.setup_panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(SETUP_MIN_WIDTH)
        self.setup_scroll = scroll
        # Live view and plots: side by side on a wide screen; on a narrow one the plots
        # become a strip under the video (see resizeEvent), so neither is squeezed.
        self.right_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.right_splitter.addWidget(self.live_view)
        self.right_splitter.addWidget(self.plots)
        self.right_splitter.setChildrenCollapsible(False)
        self.plots.setMinimumSize(260, 170)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(self.right_splitter)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        self.main_splitter = splitter
        self.setCentralWidget(splitter)
        self.setMinimumSize(1000, 640)
        self._fit_to_screen()

        self.setup_panel.start_requested.connect(self.start_session)
        self.setup_panel.protocol_loaded.connect(self._protocol_loaded)
        self.live_view.stop_button.clicked.connect(self.stop_session)
        self.live_view.estop_button.clicked.connect(self.emergency_stop)
        self.live_view.sim_controls.speed_changed.connect(self._speed_changed)
        self.live_view.sim_controls.pause_toggled.connect(self.controller.set_paused)
        self.live_view.calibrate_button.clicked.connect(self.open_calibration_editor)
        self.live_view.sim_controls.pause_toggled.connect(self._pause_toggled)
        self.escape_filter = EscapeStop(self)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self.escape_filter)
        bridge = self.controller.bridge
        bridge.state_changed.connect(self._state_changed)
        bridge.event_received.connect(self._event_received)
        bridge.finished.connect(self._finished)
        bridge.crashed.connect(self._crashed)

        self.preview: Any = None
        self.preview_timer = QTimer(self)
        self.preview_timer.setInterval(66)
        self.preview_timer.timeout.connect(self._show_preview)
        self.setup_panel.preview_requested.connect(self.toggle_preview)

        self.display_timer = QTimer(self)
        self.display_timer.setInterval(IDLE_REFRESH_MS)
        self.display_timer.timeout.connect(self._refresh_when_idle)
        self._last_refresh_s = 0.0
        bridge.set_display_hz(DISPLAY_HZ)
        bridge.frame_ready.connect(self._frame_ready)

    # --- layout ---
    def _fit_to_screen(self) -> None:
        """Open at 1600x960 or the screen's available size, whichever is smaller."""
        width, height = 1600, 960
        screen = self.screen() or QApplication.primaryScreen()
        if screen is not None:
            available = screen.availableGeometry()
            width, height = min(width, available.width()), min(height, available.height())
        self.resize(max(width, self.minimumWidth()), max(height, self.minimumHeight()))

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.arrange(self.width())

    def arrange(self, width: int) -> None:
        """Wide: set-up | video | plots. Narrow: set-up | video over a strip of plots."""
        narrow = width < WIDE_LAYOUT_MIN_WIDTH
        orientation = Qt.Orientation.Vertical if narrow else Qt.Orientation.Horizontal
        if self.right_splitter.orientation() != orientation or not self._arranged:
            self._arranged = True
            self.right_splitter.setOrientation(orientation)
            self.plots.set_horizontal(narrow)
            # The set-up column is never narrower than its content (no clipped buttons).
            setup_w = max(SETUP_WIDTH, self.setup_panel.minimumSizeHint().width() + 20)
            self.setup_scroll.setMinimumWidth(setup_w)
            rest = max(400, width - setup_w)
            self.main_splitter.setSizes([setup_w, rest])
            if narrow:
                self.right_splitter.setSizes([max(300, self.height() - 300), 220])
            else:
                self.right_splitter.setSizes([int(rest * 0.6), int(rest * 0.4)])

    # --- set-up ---
    def restore_choices(self) -> None:
        self.setup_panel.apply_choices(load_choices())
        self.live_view.sim_controls.set_speed(load_choices().speed)

    def _protocol_loaded(self, loaded: Any) -> None:
        if loaded is None or self.controller.is_running:
            return
        try:
            arena, zones = zone_overlays(loaded)
        except Exception:
            log.exception("could not draw the zones")
            return
        self.live_view.set_overlays(arena, zones)

    # --- source preview (before a session) ---
    def toggle_preview(self, spec: str) -> None:
        if self.preview is not None:
            self.stop_preview()
            return
        loaded = self.setup_panel.loaded
        if loaded is None:
            self.live_view.banner.show_message("warning", "Load a protocol first", "The preview uses its calibration's camera resolution.")
            return
        from rig.errors import RigError
        from rig.gui.preview import SourcePreview

        try:
            from rig.devices.registry import make_source

            source = make_source(spec, loaded.calibration, loaded.protocol.tracking.camera_fps)
        except RigError as err:
            self.live_view.banner.show_message("error", "No preview", str(err))
            return
        self.preview = SourcePreview(source)
        self._preview_checked = False
        self.live_view.header.show_text(HeaderText(HeaderState.IDLE, "Preview of the source with the "
                                                   "arena outline and zones (nothing recorded).", None))
        self.preview.start()
        self.preview_timer.start()
        self.setup_panel.preview_button.setText("Stop preview")

    def stop_preview(self) -> None:
        self.preview_timer.stop()
        if self.preview is not None:
            self.preview.stop()
            self.preview = None
        self.setup_panel.preview_button.setText("Preview")

    def _show_preview(self) -> None:
        preview = self.preview
        if preview is None:
            return
        if preview.latest is not None:
            self.live_view.video.set_image(preview.latest)
            if not self._preview_checked:
                self._preview_checked = True
                self.preview_warning = self._check_preview_frame(preview.latest)
        if not preview.running:
            if preview.error:
                self.live_view.banner.show_message("error", "Preview stopped", preview.error)
            self.stop_preview()

    def _check_preview_frame(self, image: Any) -> str:
        """Warn when the frame does not fit the calibration (size, or arena vs scene)."""
        from rig.gui.preflight import CheckState, arena_check, resolution_reason

        loaded = self.setup_panel.loaded
        if loaded is None:
            return ""
        camera = loaded.calibration.camera
        size = (int(image.shape[1]), int(image.shape[0]))
        if size != (camera.width_px, camera.height_px):
            text = resolution_reason((camera.width_px, camera.height_px), size, "this source")
            self.live_view.banner.show_message("warning", "Resolution differs from the calibration", text)
            return text
        check = arena_check(image, [(float(x), float(y)) for x, y in loaded.calibration.corners_px])
        if check.state is CheckState.WARNING:
            self.live_view.banner.show_message("warning", "The arena outline does not fit the scene", check.reason)
            return check.reason
        return ""

    # --- session control ---
    def start_session(self, choices: SetupChoices, loaded: Any) -> bool:
        from dataclasses import replace

        from rig.errors import RigError

        self.stop_preview()
        choices = replace(choices, speed=self.live_view.sim_controls.speed)
        save_choices(choices)
        self.live_view.banner.hide()
        try:
            self.controller.start(choices, loaded)
        except RigError as err:
            self.live_view.banner.show_message("error", "The session could not start", str(err))
            return False
        protocol = loaded.protocol
        zone_map_boundaries: list[float] = []
        try:
            from rig.zones import ZoneMap

            zone_map = ZoneMap.from_protocol(protocol.arena, loaded.calibration)
            zone_map_boundaries = zone_map.x_boundaries_cm()
        except Exception:
            log.exception("zone map for plots")
        self.plots.reset(
            [p.name for p in protocol.phases],
            zone_map_boundaries,
            loaded.calibration.width_cm,
            total_s=self._total_duration_s(),
        )
        self._stim_side = ""
        self._last_frame_index = -1
        self.live_view.video.clear_track()
        simulated = choices.simulated
        self.live_view.video.set_tag("SIMULATED" if simulated else "")
        self.live_view.sim_controls.setVisible(choices.source_kind != "camera")
        self.live_view.header.reset()
        self.live_view.set_paused(False)
        self.status_bar.reset("" if choices.source_kind == "camera" else choices.speed)
        self.session_active = True
        self.live_view.sim_controls.pause_button.setChecked(False)
        self.live_view.set_running(True)
        self.setup_panel.set_running(True)
        self.display_timer.start()
        return True

    def _total_duration_s(self) -> float:
        runner = self.controller.runner
        return float(runner.status.total_duration_s) if runner is not None else 0.0

    def stop_session(self) -> None:
        self.controller.request_stop()

    def emergency_stop(self) -> None:
        if self.controller.runner is None or not self.session_active:
            return
        self.controller.emergency_stop()
        self.live_view.set_gate(False)
        self.live_view.banner.show_message(
            "error", "EMERGENCY STOP", "Laser gate closed; the session is stopping."
        )

    @property
    def paused(self) -> bool:
        return self.session_active and self.live_view.sim_controls.pause_button.isChecked()

    def _pause_toggled(self, paused: bool) -> None:
        self.live_view.set_paused(paused and self.session_active)
        runner = self.controller.runner
        if runner is not None and self.session_active:
            self.live_view.show_status(runner.status, self.paused)

    def _speed_changed(self, speed: str) -> None:
        self.controller.set_speed(None if speed == "max" else float(speed))
        if self.session_active:
            self.status_bar.reset(speed)
        if self.controller.is_running and self.controller.choices is not None:
            tag = "SIMULATED" if self.controller.choices.simulated else ""
            self.live_view.video.set_tag(f"{tag} {speed}x" if speed != "max" else f"{tag} max")

    # --- display (timer, GUI thread) ---
    def _frame_ready(self) -> None:
        try:
            self.refresh_display()
        finally:
            self.controller.bridge.display_done()

    def _refresh_when_idle(self) -> None:
        if time.monotonic() - self._last_refresh_s > 2 * IDLE_REFRESH_MS / 1000:
            self.refresh_display()

    def refresh_display(self) -> None:
        self._last_refresh_s = time.monotonic()
        runner = self.controller.runner
        if runner is None:
            return
        self._tick += 1
        update = runner.latest_update()
        if update is not None and update.frame_index != self._last_frame_index:
            self._last_frame_index = update.frame_index
            track = update.track
            position = (track.x_px, track.y_px) if track.found else None
            self.live_view.video.show_frame(update.image, position, track.contour, update.laser_on)
            self.live_view.laser.set_laser_on(update.laser_on)
            self._shown_update = update
        if self._tick % STATUS_EVERY_TICKS == 0 or self.last_status is None:
            self._refresh_status(runner)
        self.plots.add_samples(self.controller.bridge.drain_samples())
        # One plot per tick, each once per PLOT_EVERY_TICKS ticks (spreads the repaint cost).
        phase_tick = self._tick % PLOT_EVERY_TICKS
        if phase_tick in (0, PLOT_EVERY_TICKS // 3, 2 * PLOT_EVERY_TICKS // 3):
            self.plots.redraw_part(3 * phase_tick // PLOT_EVERY_TICKS)

    def _refresh_status(self, runner: Any) -> None:
        status = runner.status
        self.last_status = status
        if not self.session_active:
            return  # frozen in the final state
        self.live_view.show_status(status, self.paused, getattr(runner, "arming_progress", None))
        update = self._shown_update
        if update is not None:
            # The indicator follows the frame on screen, so it and the border agree.
            self.live_view.set_gate(update.laser_on)
        self.status_bar.show_status(status, paused=self.paused)
        if status.stim_side and status.stim_side != self._stim_side and self.controller.loaded:
            self._stim_side = status.stim_side
            try:
                arena, zones = zone_overlays(self.controller.loaded, status.stim_side)
                self.live_view.set_overlays(arena, zones)
                self.plots.stim_side = status.stim_side
            except Exception:
                log.exception("could not draw the zones")

    # --- engine reports (queued signals) ---
    def _state_changed(self, status: Any) -> None:
        self.last_status = status
        if self.session_active:
            runner = self.controller.runner
            self.live_view.show_status(status, self.paused, getattr(runner, "arming_progress", None))

    def _event_received(self, kind: str, t_s: float, detail: dict[str, object]) -> None:
        if kind in WARNING_EVENTS:
            what, action = WARNING_EVENTS[kind]
            self.live_view.banner.show_message("warning", f"{what} at {t_s:.1f} s", action)
        elif kind == "fault":
            what = f"{detail.get('error', 'Fault')}: {detail.get('message', '')}"
            self.live_view.banner.show_message("error", what, "The laser gate was closed.")

    def _finished(self, status: Any) -> None:
        self.refresh_display()
        self.session_active = False
        self.display_timer.stop()
        self.plots.add_samples(self.controller.bridge.drain_samples())
        self.plots.redraw()
        self.plots.freeze(status.session_elapsed_s)
        self.last_status = status
        # The final state: the header freezes on it; the gate is closed on screen too.
        self.live_view.header.show_status(status)
        self.live_view.set_paused(False)
        self.live_view.set_gate(False)
        self.status_bar.show_status(status)
        self.live_view.set_running(False)
        self.setup_panel.set_running(False)
        reason = getattr(status.end_reason, "value", str(status.end_reason))
        if self.live_view.header.state is HeaderState.INCOMPLETE:
            what = end_reason_text(reason) + (f": {status.fault}" if status.fault else "")
            self.live_view.banner.show_message(
                "error", f"INCOMPLETE — {what}", END_ACTIONS.get(reason, "The record up to this moment is saved.")
            )
        elif reason in END_ACTIONS:
            self.live_view.banner.show_message("error", end_reason_text(reason), END_ACTIONS[reason])
        elif reason in ("stopped_by_user", "closed_by_user"):
            self.live_view.banner.show_message("info", end_reason_text(reason), "The record is complete up to the stop.")
        self.setup_panel.refresh_history()
        if self._close_after_finish:
            self.session_finished.emit(status)
            self.close()
            return
        if self._show_summary and status.session_dir is not None:
            self.summary_dialog = SummaryDialog(
                Path(status.session_dir), reason, self, self._opener, self._build_report
            )
            self.summary_dialog.show()
        self.session_finished.emit(status)

    def _crashed(self, message: str) -> None:
        self.session_active = False
        self.display_timer.stop()
        self.live_view.set_running(False)
        self.setup_panel.set_running(False)
        self.live_view.banner.show_message(
            "error", f"The session engine failed: {message}", END_ACTIONS["error"]
        )

    # --- calibration ---
    def open_calibration_editor(self) -> None:
        from rig.gui.widgets.calibration_editor import CalibrationEditor

        editor = CalibrationEditor(self, choices=self.setup_panel.choices(), loaded=self.setup_panel.loaded)
        editor.saved.connect(self.calibration_saved)
        editor.show()
        self.calibration_editor = editor

    def calibration_saved(self, path: Path) -> str:
        """Ask where the new calibration goes, use it, and redraw the preview's zones."""
        loaded = self.setup_panel.loaded
        protocol_name = loaded.protocol.metadata.name if loaded is not None else ""
        target = self._choose_target(self, Path(path), protocol_name)
        if target == "rig":
            return self._write_calibration_into_rig(Path(path), protocol_name)
        if target == "protocol" and self.setup_panel.use_calibration(Path(path)):
            save_choices(self.setup_panel.choices())
            self.live_view.banner.show_message(
                "info", f"Calibration {Path(path).name} in use",
                f"The next session of protocol '{protocol_name}' uses it (recorded in session.json).",
            )
            if self.preview is None and self.setup_panel.loaded is not None:
                self._preview_checked = False
        return target

    @property
    def rig_path(self) -> str:
        """The rig file in use ("" without one): the calibration dialog offers to write into it."""
        return self.setup_panel.rig_edit.text().strip()

    def _write_calibration_into_rig(self, path: Path, protocol_name: str) -> str:
        """Point the rig file in use at the new calibration (one-line edit, comments kept,
        re-validated with load_rig) and use it for the next session."""
        from rig.rigfile.edit import write_rig_calibration

        rig_file = Path(self.rig_path)
        try:
            written = write_rig_calibration(rig_file, path)
        except Exception as err:  # noqa: BLE001 - shown to the user; the rig file is unchanged
            log.warning("writing the calibration into %s failed: %s", rig_file, err)
            self.live_view.banner.show_message(
                "error", "Rig file not changed",
                f"Could not write {path.name} into {rig_file.name}: {err}",
            )
            return "none"
        if written.path != rig_file:
            self.setup_panel.rig_edit.setText(str(written.path))
        else:
            self.setup_panel._rig_changed()  # reload the edited file
        self.setup_panel.use_calibration(path)
        save_choices(self.setup_panel.choices())
        where = (
            f"{rig_file.name} now names it (the previous version is kept as {written.backup.name})"
            if written.in_place and written.backup is not None
            else f"{rig_file.name} could not be edited line by line; a new rig file "
            f"{written.path.name} beside it names the calibration and is now in use"
        )
        self.live_view.banner.show_message(
            "info", f"Calibration {path.name} written into the rig file",
            f"{where}. The next session of protocol '{protocol_name}' uses it (recorded in session.json).",
        )
        if self.preview is None and self.setup_panel.loaded is not None:
            self._preview_checked = False
        return "rig"

    # --- closing ---
    def closeEvent(self, event: QCloseEvent | None) -> None:
        assert event is not None
        if not self.session_active:
            self.stop_preview()
            self.display_timer.stop()
            if self.controller.worker is not None:
                self.controller.worker.join(5.0)  # returns right after on_finished
            event.accept()
            return
        if self._close_after_finish:
            event.ignore()
            return
        if not self._confirm(
            self,
            "Session running",
            "A session is running. Stop it now (laser off at once, the record is completed "
            "and marked 'closed by user') and close the window, or keep it running?",
        ):
            event.ignore()
            return
        # Laser off at once, then a clean stop; the window closes when the record is complete.
        from rig.session.status import EndReason

        self._close_after_finish = True
        self.controller.emergency_stop(EndReason.CLOSED_BY_USER)
        self.live_view.set_gate(False)
        self.live_view.banner.show_message(
            "info", "Closing", "Laser gate closed; finishing the record before closing…"
        )
        event.ignore()
