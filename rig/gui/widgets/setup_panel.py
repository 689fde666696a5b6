"""The set-up panel, a checklist from top to bottom: animal, protocol, video source, laser
board, output folder; then the pre-flight checks, Start, and the history of the output folder.

Start stays disabled, with the reason shown, until every choice is valid. The protocol is
loaded (and validated) as soon as it is picked; its errors are shown inline, one per line
with file, line and field, exactly as ``rig validate`` prints them. Pressing Start runs the
pre-flight checks first (unless they passed for the same choices) and starts only when no
required check is red.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QApplication,
    QListWidget,
    QListWidgetItem,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from rig.gui import palette
from rig.gui.preflight import CheckState, PreflightResult
from rig.gui.settings import SetupChoices

if TYPE_CHECKING:
    from rig.protocol.load import LoadedProtocol

log = logging.getLogger(__name__)

#: Pseudo-path of the embedded demo protocol.
DEMO_PROTOCOL = "<demo>"

SOURCE_KINDS = (
    ("synthetic", "Synthetic arena (practice)"),
    ("video", "Recorded video (simulation)"),
    ("camera", "Camera"),
)

_ERROR_STYLE = palette.style(palette.ERROR)
_OK_STYLE = palette.style(palette.OK)
_CHECK_MARK = {
    CheckState.OK: ("✓", palette.OK),
    CheckState.FAILED: ("✗", palette.ERROR),
    CheckState.WARNING: ("!", palette.WARN),
    CheckState.SKIPPED: ("–", palette.MUTED),
}


def default_preflight(choices: SetupChoices, loaded: LoadedProtocol) -> PreflightResult:
    """The production pre-flight: the chosen source, and the board wired as the session
    will wire it (the rig file's pins and interlock: ``session_rig``)."""
    from rig.devices.registry import make_rig_board, make_source
    from rig.gui.controller import session_rig
    from rig.gui.preflight import run_preflight

    fps = float(loaded.protocol.tracking.camera_fps)
    rig = session_rig(choices)
    return run_preflight(
        lambda: make_source(choices.source_spec(), loaded.calibration, fps),
        lambda: make_rig_board(rig.config),
        loaded.calibration,
        fps,
        Path(choices.output_dir),
        float(loaded.protocol.duration_s),
        interlock=rig.config.interlock,
    )


PreflightFn = Callable[[SetupChoices, "LoadedProtocol"], PreflightResult]


def _load(path: str) -> LoadedProtocol:
    from rig.protocol.load import load_default_protocol, load_protocol

    if path == DEMO_PROTOCOL:
        return load_default_protocol()
    return load_protocol(Path(path))


def list_serial_ports() -> list[tuple[str, str]]:
    """(port, description) of the serial ports, Arduino ones first ([] if unavailable)."""
    try:
        from rig.devices import ports
    except ImportError:
        return []
    try:
        found = ports.list_ports()
    except Exception:
        log.exception("listing serial ports failed")
        return []
    result = []
    for port in found:
        name = getattr(port, "device", None) or getattr(port, "port", None) or str(port)
        description = getattr(port, "description", "") or ""
        result.append((str(name), str(description)))
    return result


def probe_board(port: str) -> str:
    """Connect to the board on ``port``, return its firmware version, disconnect."""
    from rig.devices.firmata_board import FirmataBoard

    board = FirmataBoard(port)
    with board:
        info = board.info
        return f"{info.firmware_name} {info.firmware_version}".strip()


class SetupPanel(QWidget):
    """Emits ``start_requested`` with the choices and the loaded protocol."""

    start_requested = pyqtSignal(object, object)  # SetupChoices, LoadedProtocol
    preflight_done = pyqtSignal(object)  # PreflightResult
    protocol_loaded = pyqtSignal(object)  # LoadedProtocol | None
    preview_requested = pyqtSignal(str)  # source spec

    def __init__(
        self,
        parent: QWidget | None = None,
        port_lister: Callable[[], list[tuple[str, str]]] = list_serial_ports,
        board_prober: Callable[[str], str] = probe_board,
        preflight: PreflightFn = default_preflight,
    ) -> None:
        super().__init__(parent)
        self._preflight_fn = preflight
        self.preflight_result: PreflightResult | None = None
        self._preflight_for: SetupChoices | None = None
        self._port_lister = port_lister
        self._board_prober = board_prober
        self.loaded: LoadedProtocol | None = None
        self.protocol_error = ""
        #: A calibration file chosen in the editor, used instead of the protocol's.
        self.calibration_override = ""
        self.board_versions: dict[str, str] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)

        # Protocol
        box = QGroupBox("2. Protocol")
        form = QVBoxLayout(box)
        row = QHBoxLayout()
        self.protocol_edit = QLineEdit()
        self.protocol_edit.setPlaceholderText("protocol YAML file")
        self.protocol_edit.editingFinished.connect(lambda: self.set_protocol_path(self.protocol_edit.text()))
        row.addWidget(self.protocol_edit, 1)
        browse = QPushButton("Open…")
        browse.clicked.connect(self._browse_protocol)
        row.addWidget(browse)
        demo = QPushButton("Demo")
        demo.setToolTip("Use the embedded demo protocol (synthetic arena calibration)")
        demo.clicked.connect(lambda: self.set_protocol_path(DEMO_PROTOCOL))
        row.addWidget(demo)
        form.addLayout(row)
        self.protocol_status = QLabel("No protocol loaded.")
        self.protocol_status.setWordWrap(True)
        form.addWidget(self.protocol_status)
        outer.addWidget(box)

        # Animal
        box = QGroupBox("1. Animal")
        grid = QFormLayout(box)
        self.animal_edit = QLineEdit()
        self.animal_edit.setPlaceholderText("e.g. m017")
        self.animal_edit.textChanged.connect(self._revalidate)
        grid.addRow("Animal ID", self.animal_edit)
        self.experimenter_edit = QLineEdit()
        grid.addRow("Experimenter", self.experimenter_edit)
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setFixedHeight(48)
        grid.addRow("Notes", self.notes_edit)
        self.side_combo = QComboBox()
        self.side_combo.addItem("As the protocol says", "protocol")
        self.side_combo.addItem("left (override)", "left")
        self.side_combo.addItem("right (override)", "right")
        self.side_combo.currentIndexChanged.connect(self._revalidate)
        grid.addRow("Stimulated side", self.side_combo)
        cohort_row = QHBoxLayout()
        self.cohort_edit = QLineEdit()
        self.cohort_edit.setPlaceholderText("optional: cohort.csv (the animal's side comes from it)")
        self.cohort_edit.textChanged.connect(self._revalidate)
        cohort_row.addWidget(self.cohort_edit, 1)
        cohort_browse = QPushButton("Open…")
        cohort_browse.clicked.connect(self._browse_cohort)
        cohort_row.addWidget(cohort_browse)
        grid.addRow("Cohort file", cohort_row)
        self.side_result = QLabel("")
        grid.addRow("", self.side_result)
        outer.addWidget(box)

        # Source
        box = QGroupBox("3. Video source")
        grid = QFormLayout(box)
        self.source_combo = QComboBox()
        for kind, label in SOURCE_KINDS:
            self.source_combo.addItem(label, kind)
        grid.addRow("Source", self.source_combo)
        self.source_stack = QStackedWidget()
        self.source_stack.addWidget(QLabel("Rendered mouse with known position."))
        video_row = QWidget()
        layout = QHBoxLayout(video_row)
        layout.setContentsMargins(0, 0, 0, 0)
        self.video_edit = QLineEdit()
        self.video_edit.setPlaceholderText("recorded video file")
        self.video_edit.textChanged.connect(self._revalidate)
        layout.addWidget(self.video_edit, 1)
        browse = QPushButton("…")
        browse.clicked.connect(self._browse_video)
        layout.addWidget(browse)
        self.source_stack.addWidget(video_row)
        camera_row = QWidget()
        layout = QHBoxLayout(camera_row)
        layout.setContentsMargins(0, 0, 0, 0)
        self.camera_spin = QSpinBox()
        self.camera_spin.setRange(0, 16)
        layout.addWidget(QLabel("index"))
        layout.addWidget(self.camera_spin)
        layout.addStretch(1)
        self.source_stack.addWidget(camera_row)
        self.source_combo.currentIndexChanged.connect(self._source_changed)
        grid.addRow("", self.source_stack)
        self.preview_button = QPushButton("Preview")
        self.preview_button.setToolTip(
            "Show the source with the arena outline and zones before Start"
        )
        self.preview_button.clicked.connect(lambda: self.preview_requested.emit(self.choices().source_spec()))
        grid.addRow("", self.preview_button)
        outer.addWidget(box)

        # Board
        box = QGroupBox("4. Laser board")
        grid = QFormLayout(box)
        row = QHBoxLayout()
        self.board_combo = QComboBox()
        self.board_combo.currentIndexChanged.connect(self._revalidate)
        row.addWidget(self.board_combo, 1)
        refresh = QPushButton("↻")
        refresh.setToolTip("List the serial ports again")
        refresh.clicked.connect(self.refresh_ports)
        row.addWidget(refresh)
        self.connect_button = QPushButton("Connect")
        self.connect_button.clicked.connect(self.probe_selected_board)
        row.addWidget(self.connect_button)
        grid.addRow("Board", row)
        self.board_status = QLabel("")
        self.board_status.setWordWrap(True)
        grid.addRow("", self.board_status)
        rig_row = QHBoxLayout()
        self.rig_edit = QLineEdit()
        self.rig_edit.setPlaceholderText("rig file (rigs/*.yaml): pins, interlock, PWM; optional")
        self.rig_edit.setToolTip(
            "The rig hardware file (docs/rig.md): laser pin and polarity, PWM pin for a "
            "ramp-down, door interlock, liveness limits. Its board and port are used for "
            "the session when it names a firmata board."
        )
        self.rig_edit.textChanged.connect(self._rig_changed)
        rig_row.addWidget(self.rig_edit, 1)
        rig_browse = QPushButton("…")
        rig_browse.clicked.connect(self._browse_rig)
        rig_row.addWidget(rig_browse)
        grid.addRow("Rig file", rig_row)
        self.rig_status = QLabel("")
        self.rig_status.setWordWrap(True)
        grid.addRow("", self.rig_status)
        self.rig: Any = None
        self.rig_error = ""
        outer.addWidget(box)

        # Output
        box = QGroupBox("5. Output")
        row = QHBoxLayout(box)
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("folder for session records")
        self.output_edit.textChanged.connect(self._revalidate)
        row.addWidget(self.output_edit, 1)
        browse = QPushButton("…")
        browse.clicked.connect(self._browse_output)
        row.addWidget(browse)
        outer.addWidget(box)

        # Pre-flight
        box = QGroupBox("6. Pre-flight checks")
        column = QVBoxLayout(box)
        self.preflight_button = QPushButton("Run checks")
        self.preflight_button.setToolTip(
            "Opens the board and the source briefly; sends a 0.1 s test pulse to the laser pin"
        )
        self.preflight_button.clicked.connect(self.run_preflight)
        column.addWidget(self.preflight_button)
        self.preflight_label = QLabel("Not run yet: Start runs them first.")
        self.preflight_label.setWordWrap(True)
        self.preflight_label.setTextFormat(Qt.TextFormat.RichText)
        column.addWidget(self.preflight_label)
        outer.addWidget(box)
        self.preflight_box = box

        self.start_button = QPushButton("Start session")
        self.start_button.setMinimumHeight(44)
        self.start_button.setStyleSheet(
            f"QPushButton {{ font-size:16px; font-weight:bold; background:{palette.START_BG};"
            f" color:{palette.BADGE_TEXT}; }}"
            f"QPushButton:disabled {{ background:{palette.BUTTON}; color:{palette.DISABLED_TEXT}; }}"
        )
        self.start_button.clicked.connect(self._start_clicked)
        outer.addWidget(self.start_button)
        self.start_reason = QLabel("")
        self.start_reason.setWordWrap(True)
        self.start_reason.setStyleSheet(palette.style(palette.WARN))
        outer.addWidget(self.start_reason)

        # History of the output folder
        box = QGroupBox("Sessions in this output folder")
        column = QVBoxLayout(box)
        self.history = QListWidget()
        self.history.setMinimumHeight(90)
        column.addWidget(self.history)
        row = QHBoxLayout()
        self.open_report_button = QPushButton("Open report")
        self.open_report_button.clicked.connect(lambda: self._open_history("report"))
        row.addWidget(self.open_report_button)
        self.open_folder_button = QPushButton("Open folder")
        self.open_folder_button.clicked.connect(lambda: self._open_history("folder"))
        row.addWidget(self.open_folder_button)
        column.addLayout(row)
        outer.addWidget(box)
        self.history_box = box
        self.opener: Callable[[Path], None] = _open_path
        self.output_edit.textChanged.connect(self.refresh_history)
        outer.addStretch(1)
        for combo in self.findChildren(QComboBox):
            # Full text in the popup and the tooltip; the closed combo elides, never clips.
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(16)
            combo.currentIndexChanged.connect(
                lambda _i, c=combo: c.setToolTip(c.currentText())
            )
            view = combo.view()
            if view is not None:
                view.setMinimumWidth(360)
        # The checklist order: the animal first (the cohort file names it), then the protocol.
        for box in self.findChildren(QGroupBox):
            if box.title().startswith("1."):
                outer.removeWidget(box)
                outer.insertWidget(0, box)
        self.refresh_ports()
        self._revalidate()

    # --- choices ---
    def choices(self) -> SetupChoices:
        return SetupChoices(
            protocol_path=self.protocol_edit.text().strip(),
            animal_id=self.animal_edit.text().strip(),
            experimenter=self.experimenter_edit.text().strip(),
            notes=self.notes_edit.toPlainText().strip(),
            stim_side=str(self.side_combo.currentData()),
            source_kind=str(self.source_combo.currentData()),
            video_path=self.video_edit.text().strip(),
            camera_index=self.camera_spin.value(),
            board=str(self.board_combo.currentData() or "mock"),
            output_dir=self.output_edit.text().strip(),
            calibration_path=self.calibration_override,
            cohort_path=self.cohort_edit.text().strip(),
            rig_path=self.rig_edit.text().strip(),
        )

    def apply_choices(self, choices: SetupChoices) -> None:
        """Fill the panel (from QSettings or the command line); reloads the protocol."""
        self.animal_edit.setText(choices.animal_id)
        self.experimenter_edit.setText(choices.experimenter)
        self.notes_edit.setPlainText(choices.notes)
        self._select(self.side_combo, choices.stim_side)
        self.cohort_edit.setText(choices.cohort_path)
        self._select(self.source_combo, choices.source_kind)
        self.video_edit.setText(choices.video_path)
        self.camera_spin.setValue(choices.camera_index)
        self._select(self.board_combo, choices.board)
        self.output_edit.setText(choices.output_dir)
        self.rig_edit.setText(choices.rig_path)
        if choices.protocol_path:
            self.set_protocol_path(choices.protocol_path)
            if choices.calibration_path and Path(choices.calibration_path).is_file():
                self.use_calibration(Path(choices.calibration_path))
        self._revalidate()

    @staticmethod
    def _select(combo: QComboBox, value: object) -> None:
        index = combo.findData(value)
        if index >= 0:
            combo.setCurrentIndex(index)

    # --- protocol ---
    def set_protocol_path(self, path: str) -> None:
        path = path.strip()
        self.protocol_edit.setText(path)
        self.loaded = None
        self.protocol_error = ""
        if not path:
            self.protocol_status.setText("No protocol loaded.")
            self.protocol_status.setStyleSheet("")
        else:
            try:
                self.loaded = _load(path)
            except Exception as err:
                from rig.errors import RigError

                if not isinstance(err, RigError):
                    log.exception("loading %s failed", path)
                self.protocol_error = str(err) or type(err).__name__
                self.protocol_status.setText(self.protocol_error)
                self.protocol_status.setStyleSheet(_ERROR_STYLE)
            else:
                self.protocol_status.setText(self._describe(self.loaded))
                self.protocol_status.setStyleSheet(_OK_STYLE)
        self.calibration_override = ""
        self.protocol_loaded.emit(self.loaded)
        self._revalidate()

    def use_calibration(self, path: Path) -> bool:
        """Use this arena calibration file with the loaded protocol (instead of the one the
        protocol names). The session records the file used (copy + sha256 + source path)."""
        from dataclasses import replace

        from rig.calibration_io import load_arena_calibration

        if self.loaded is None:
            return False
        try:
            calibration = load_arena_calibration(path)
            raw = Path(path).read_bytes()
        except Exception as err:  # noqa: BLE001 - shown to the user
            self.protocol_status.setText(f"Calibration not used: {err}")
            self.protocol_status.setStyleSheet(_ERROR_STYLE)
            return False
        protocol_calibration = self.loaded.calibration_path.name
        self.loaded = replace(self.loaded, calibration=calibration, calibration_path=Path(path),
                              calibration_raw=raw)
        self.calibration_override = str(path)
        self.protocol_status.setText(
            self._describe(self.loaded)
            + f" (chosen in the calibration editor; the protocol names {protocol_calibration})"
        )
        self.protocol_status.setStyleSheet(_OK_STYLE)
        self.protocol_loaded.emit(self.loaded)
        self._revalidate()
        return True

    @staticmethod
    def _describe(loaded: LoadedProtocol) -> str:
        p = loaded.protocol
        stim = p.stimulation
        train = (
            f"{stim.frequency_hz:g} Hz {stim.pulse_width_ms:g} ms"
            if stim.mode == "pulse_train"
            else "continuous"
        )
        minutes = p.duration_s / 60
        length = f"{minutes:.0f} min" if minutes >= 1 else f"{p.duration_s:.0f} s"
        return (
            f"✓ {p.metadata.name} v{p.metadata.version}: {len(p.phases)} phases, {length}, "
            f"{stim.wavelength_nm:g} nm {train}; calibration {loaded.calibration_path.name}"
        )

    # --- sources and boards ---
    def _source_changed(self) -> None:
        self.source_stack.setCurrentIndex(self.source_combo.currentIndex())
        self._revalidate()

    def refresh_ports(self) -> None:
        current = self.board_combo.currentData()
        self.board_combo.blockSignals(True)
        self.board_combo.clear()
        self.board_combo.addItem("Mock board (practice, no laser)", "mock")
        for port, description in self._port_lister():
            self.board_combo.addItem(f"{port} — {description}" if description else port, port)
        self.board_combo.blockSignals(False)
        if current is not None:
            self._select(self.board_combo, current)
        self._revalidate()

    def probe_selected_board(self) -> None:
        port = str(self.board_combo.currentData())
        if port == "mock":
            self.board_status.setText("Mock board: no hardware, commands are only recorded.")
            self.board_status.setStyleSheet(_OK_STYLE)
            return
        try:
            version = self._board_prober(port)
        except Exception as err:  # noqa: BLE001 - shown to the user
            self.board_versions.pop(port, None)
            self.board_status.setText(f"{port}: {err}")
            self.board_status.setStyleSheet(_ERROR_STYLE)
        else:
            self.board_versions[port] = version
            self.board_status.setText(f"{port}: connected, firmware {version}")
            self.board_status.setStyleSheet(_OK_STYLE)
        self._revalidate()

    # --- validation ---
    def problems(self) -> list[str]:
        """Why a session cannot start yet (empty when it can)."""
        c = self.choices()
        problems = []
        if self.loaded is None:
            problems.append("Load a valid protocol." if not self.protocol_error else "Fix the protocol errors.")
        if not c.animal_id:
            problems.append("Enter the animal ID.")
        elif any(ch in c.animal_id for ch in '/\\:*?"<>|') or c.animal_id.strip(".") == "":
            problems.append("The animal ID may not contain / \\ : * ? \" < > |.")
        self.side_result.setText("")
        if self.loaded is not None and c.animal_id and (c.stim_side == "protocol" or c.cohort_path):
            problem = self._side_preview(c)
            if problem:
                problems.append(problem)
        if c.source_kind == "video":
            if not c.video_path:
                problems.append("Choose the recorded video.")
            elif not Path(c.video_path).is_file():
                problems.append(f"Video file not found: {c.video_path}")
        if c.rig_path and self.rig_error:
            problems.append("Fix the rig file: " + self.rig_error.splitlines()[0])
        elif c.rig_path and self.rig is not None and self.loaded is not None:
            from rig.rigfile.load import check_protocol_on_rig

            for issue in check_protocol_on_rig(self.rig, self.loaded):
                problems.append(issue.message)
        if c.board != "mock" and c.board not in self.board_versions:
            problems.append(f"Connect to the board on {c.board} first (firmware check).")
        if c.source_kind == "camera" and c.board == "mock":
            pass  # practice with a real camera and no laser is allowed
        if not c.output_dir:
            problems.append("Choose the output folder.")
        else:
            out = Path(c.output_dir)
            probe = out if out.exists() else out.parent
            if out.exists() and not out.is_dir():
                problems.append(f"Output is not a folder: {out}")
            elif not probe.is_dir() or not os.access(probe, os.W_OK):
                problems.append(f"Output folder is not writable: {out}")
        return problems

    def _side_preview(self, c: SetupChoices) -> str:
        assert self.loaded is not None
        rule = self.loaded.protocol.arena.stimulated
        if c.cohort_path:
            try:
                from rig.cohort import load_cohort
                from rig.session.sides import assign_side

                override = None if c.stim_side == "protocol" else c.stim_side
                choice = assign_side(rule, c.animal_id, override=override,
                                     cohort=load_cohort(c.cohort_path))
            except Exception as err:  # noqa: BLE001 - shown to the user
                return str(err)
            group = (choice.cohort or {}).get("group")
            self.side_result.setText(f"→ {choice.side} from the cohort file (group {group})")
            return ""
        if rule.rule == "random" and rule.seed is None:
            self.side_result.setText("random: drawn at start and recorded")
            return ""
        try:
            from rig.session.sides import assign_side

            choice = assign_side(
                rule,
                c.animal_id,
                out_dir=Path(c.output_dir or "."),
                protocol_name=self.loaded.protocol.metadata.name,
            )
        except ImportError:
            return ""
        except Exception as err:  # noqa: BLE001 - shown to the user
            return str(err)
        detail = f" ({choice.detail})" if choice.detail else ""
        self.side_result.setText(f"→ {choice.side} by rule '{choice.rule}'{detail}")
        return ""

    def _revalidate(self) -> None:
        problems = self.problems()
        result = self.preflight_result
        if result is not None and self._preflight_for != self.choices():
            self._show_preflight(None)  # choices changed: the old results no longer hold
            result = None
        if result is not None:
            problems += result.problems
        self.start_button.setEnabled(not problems)
        self.start_reason.setText("\n".join(problems))

    # --- pre-flight ---
    def run_preflight(self) -> PreflightResult | None:
        """Run every check now (blocking, ~1 s) and show green/red with the reasons."""
        if self.problems() or self.loaded is None:
            self._revalidate()
            return None
        self.preflight_label.setText("Checking…")
        app = QApplication.instance()
        if app is not None:
            app.processEvents()
        choices = self.choices()
        result = self._preflight_fn(choices, self.loaded)
        self._preflight_for = choices
        self._show_preflight(result)
        self._revalidate()
        self.preflight_done.emit(result)
        return result

    def _show_preflight(self, result: PreflightResult | None) -> None:
        self.preflight_result = result
        if result is None:
            self._preflight_for = None
            self.preflight_label.setText("Not run yet: Start runs them first.")
            return
        lines = []
        for check in result.checks:
            mark, colour = _CHECK_MARK[check.state]
            lines.append(
                f"<span style='color:{colour}'><b>{mark} {check.title}</b></span><br>"
                f"<span style='color:{palette.MUTED if check.state is CheckState.OK else colour}'>"
                f"&nbsp;&nbsp;&nbsp;{_html(check.reason)}</span>"
            )
        self.preflight_label.setText("<br>".join(lines))

    def _start_clicked(self) -> None:
        if self.problems() or self.loaded is None:
            self._revalidate()
            return
        if self.preflight_result is None or self._preflight_for != self.choices():
            result = self.run_preflight()
            if result is None or not result.ok:
                return
        elif not self.preflight_result.ok:
            return
        self.start_requested.emit(self.choices(), self.loaded)
        # A session changes the rig's state (and the folder): check again next time.
        self._show_preflight(None)

    # --- history ---
    def refresh_history(self) -> None:
        """The sessions in the output folder, newest first, with how each ended."""
        from rig.gui.history import list_sessions

        self.history.clear()
        folder = self.output_edit.text().strip()
        pattern = self.loaded.protocol.recording.output_dir if self.loaded else "sessions/{x}"
        entries = list_sessions(Path(folder), pattern) if folder else []
        for entry in entries:
            item = QListWidgetItem(entry.describe())
            item.setData(Qt.ItemDataRole.UserRole, entry)
            item.setForeground(QColor(entry.colour))
            self.history.addItem(item)
        if not entries:
            self.history.addItem("No sessions yet in this folder.")
        self.history.setCurrentRow(0)

    def _open_history(self, what: str) -> None:
        item = self.history.currentItem()
        entry = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if entry is None:
            return
        path = entry.report_path if what == "report" else entry.path
        if path is not None:
            self.opener(path)

    def set_running(self, running: bool) -> None:
        """Lock the panel while a session runs."""
        for child in self.findChildren(QGroupBox):
            child.setEnabled(not running)
        if running:
            self.start_button.setEnabled(False)
            self.start_reason.setText("A session is running.")
        else:
            self._revalidate()

    # --- file dialogs (not used by tests) ---
    def _rig_changed(self) -> None:
        from rig.errors import RigError
        from rig.rigfile.load import load_rig

        path = self.rig_edit.text().strip()
        self.rig, self.rig_error = None, ""
        if not path:
            self.rig_status.setText("No rig file: default pins (laser D9), no interlock, no PWM.")
            self.rig_status.setStyleSheet("")
        else:
            try:
                self.rig = load_rig(path)
            except RigError as err:
                self.rig_error = str(err)
                self.rig_status.setText(self.rig_error)
                self.rig_status.setStyleSheet(_ERROR_STYLE)
            else:
                text = self.rig.summary()
                warn = self.rig.config.board.allow_host_timed_pulses
                self.rig_status.setText(text)
                self.rig_status.setStyleSheet(_ERROR_STYLE if warn else _OK_STYLE)
        self._revalidate()

    def _browse_rig(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Rig file", "rigs", "Rig file (*.yaml *.yml)")
        if path:
            self.rig_edit.setText(path)

    def _browse_protocol(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Protocol", "protocols", "Protocol (*.yaml *.yml)")
        if path:
            self.set_protocol_path(path)

    def _browse_cohort(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Cohort file", "", "Cohort (*.csv)")
        if path:
            self.cohort_edit.setText(path)

    def _browse_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Recorded video", "", "Video (*.mp4 *.avi *.mkv *.mov)")
        if path:
            self.video_edit.setText(path)

    def _browse_output(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Output folder", self.output_edit.text())
        if path:
            self.output_edit.setText(path)



def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _open_path(path: Path) -> None:
    from rig.gui.widgets.summary_dialog import open_path

    open_path(path)
