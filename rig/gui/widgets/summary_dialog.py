"""End-of-session dialog: per-phase table, the analysis module's report plots (or the plain
summary table when they cannot be built) and buttons to open the session folder/report."""

from __future__ import annotations

import html
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt, QTimer, QUrl, pyqtSignal
from PyQt6.QtGui import QDesktopServices, QPixmap
from PyQt6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from rig.gui.states import end_reason_text

log = logging.getLogger(__name__)

#: (column title, key path in a summary.json phase entry, format)
COLUMNS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("phase", ("phase",), "{}"),
    ("mode", ("mode",), "{}"),
    ("stim side", ("stim_side",), "{}"),
    ("duration s", ("duration_s",), "{:.1f}"),
    ("stim %", ("time_pct", "stim"), "{:.1f}"),
    ("non-stim %", ("time_pct", "nonstim"), "{:.1f}"),
    ("neutral %", ("time_pct", "neutral"), "{:.1f}"),
    ("pref. index", ("preference_index",), "{:+.2f}"),
    ("crossings", ("crossings",), "{}"),
    ("distance cm", ("distance_cm",), "{:.0f}"),
    ("laser on s", ("laser_on_s",), "{:.1f}"),
    ("lost %", ("lost_tracking_pct",), "{:.1f}"),
    ("dropped", ("dropped_frames",), "{}"),
)


def _get(entry: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = entry
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _format(value: Any, fmt: str) -> str:
    if value is None:
        return "—"
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return str(value)


def open_path(path: Path) -> None:
    """Open a folder or file with the desktop's default application."""
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


class SummaryDialog(QDialog):
    """Non-modal (``show()``), so nothing blocks the GUI or a test."""

    report_ready = pyqtSignal(object, str)  # report.html path or None, error (worker thread)
    report_finished = pyqtSignal()  # the report area shows plots or the text table

    def __init__(
        self,
        session_dir: Path,
        end_reason: str,
        parent: QWidget | None = None,
        opener: Callable[[Path], None] = open_path,
        build_report: bool = True,
    ) -> None:
        super().__init__(parent)
        self.session_dir = session_dir
        self.report_path: Path | None = None
        self._opener = opener
        self.setWindowTitle(f"Session finished — {session_dir.name}")
        self.resize(1100, 760)
        layout = QVBoxLayout(self)
        self.header = QLabel()
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.header)
        # An incomplete session says so loudly: end reason and the phases that did not run.
        self.incomplete_banner = QLabel()
        self.incomplete_banner.setWordWrap(True)
        self.incomplete_banner.setObjectName("incompleteBanner")
        self.incomplete_banner.setStyleSheet(
            "QLabel { background: #b00020; color: white; font-weight: bold; padding: 6px; }"
        )
        self.incomplete_banner.setVisible(False)
        layout.addWidget(self.incomplete_banner)
        self.summary = self._read_summary()
        # delivered light (board echo) and the laser-follow audit, as in the report
        self.delivered = QLabel()
        self.delivered.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.delivered.setStyleSheet("font-family: monospace;")
        self.delivered.setWordWrap(True)
        layout.addWidget(self.delivered)
        self.table = QTableWidget()
        layout.addWidget(self.table, 1)
        self.report_area = QScrollArea()
        self.report_area.setWidgetResizable(True)
        self.report_label = QLabel("Building the report plots…" if build_report else "")
        self.report_area.setWidget(self.report_label)
        layout.addWidget(self.report_area, 3)
        buttons = QHBoxLayout()
        self.open_folder_button = QPushButton("Open session folder")
        self.open_folder_button.clicked.connect(lambda: self._opener(self.session_dir))
        buttons.addWidget(self.open_folder_button)
        self.open_report_button = QPushButton("Open report")
        self.open_report_button.setEnabled(False)
        self.open_report_button.clicked.connect(self._open_report)
        buttons.addWidget(self.open_report_button)
        buttons.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.n_report_images = 0
        self.report_ready.connect(self._report_done)
        self._fill(end_reason)
        if build_report:
            QTimer.singleShot(0, self.load_report)

    def _read_summary(self) -> dict[str, Any] | None:
        path = self.session_dir / "summary.json"
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            pass
        try:
            from rig.analysis.summary import compute_summary

            return dict(compute_summary(self.session_dir))
        except Exception:
            log.exception("could not compute the summary of %s", self.session_dir)
            return None

    def _fill(self, end_reason: str) -> None:
        phases = list((self.summary or {}).get("phases", []))
        complete = (self.summary or {}).get("complete")
        self.header.setText(
            f"<b>{self.session_dir.name}</b> — {end_reason_text(end_reason)}"
            + f"<br>Folder: {self.session_dir}"
        )
        if self.summary is not None and complete is not True:
            from rig.analysis.summary import incomplete_text

            self.incomplete_banner.setText(incomplete_text(self.summary))
            self.incomplete_banner.setVisible(True)
        else:
            self.incomplete_banner.setVisible(False)
        from rig.analysis.summary import format_delivered

        lines = format_delivered(self.summary) if self.summary else ["no summary"]
        audit = ((self.summary or {}).get("delivered_light") or {}).get("audit") or {}
        colour = {"pass": "#1a7f37", "fail": "#b42318"}.get(str(audit.get("status")), "#9a6700")
        self.delivered.setText(
            "<br>".join(
                f"<span style='color:{colour}'><b>{html.escape(line)}</b></span>"
                if line.startswith("laser-follow audit") else html.escape(line)
                for line in lines
            )
        )
        self.table.setColumnCount(len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c[0] for c in COLUMNS])
        self.table.setRowCount(len(phases))
        for row, entry in enumerate(phases):
            for col, (_title, path, fmt) in enumerate(COLUMNS):
                item = QTableWidgetItem(_format(_get(entry, path), fmt))
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()

    def load_report(self) -> None:
        """Build (or reuse) the analysis report on a worker thread; show its plots when ready."""
        existing = self.session_dir / "report" / "report.html"
        if existing.exists():
            self._report_done(existing, "")
            return

        def build() -> None:
            try:
                from rig.analysis.report import build_report

                path = build_report(self.session_dir)
            except Exception as err:
                log.exception("could not build the report of %s", self.session_dir)
                self.report_ready.emit(None, f"{type(err).__name__}: {err}")
            else:
                self.report_ready.emit(path, "")

        threading.Thread(target=build, name="report-builder", daemon=True).start()

    def _report_done(self, path: Path | None, error: str) -> None:
        if path is None:
            self._show_text_table(f"Report plots unavailable ({error}).")
            self.report_finished.emit()
            return
        self.report_path = Path(path)
        pngs = sorted(self.report_path.parent.glob("*.png"))
        if not pngs:
            self._show_text_table("No report plots.")
            self.report_finished.emit()
            return
        holder = QWidget()
        column = QVBoxLayout(holder)
        for png in pngs:
            label = QLabel()
            pixmap = QPixmap(str(png))
            if pixmap.width() > 1000:
                pixmap = pixmap.scaledToWidth(1000, Qt.TransformationMode.SmoothTransformation)
            label.setPixmap(pixmap)
            label.setToolTip(png.name)
            column.addWidget(label)
        self.report_area.setWidget(holder)
        self.open_report_button.setEnabled(True)
        self.n_report_images = len(pngs)
        self.report_finished.emit()

    def _show_text_table(self, note: str) -> None:
        text = note
        try:
            from rig.analysis.summary import format_summary_table

            if self.summary is not None:
                text += "\n\n" + format_summary_table(self.summary)
        except Exception:
            log.exception("could not format the summary table")
        view = QPlainTextEdit(text)
        view.setReadOnly(True)
        font = view.font()
        font.setFamily("monospace")
        view.setFont(font)
        self.report_area.setWidget(view)
        self.n_report_images = 0

    def _open_report(self) -> None:
        if self.report_path is not None:
            self._opener(self.report_path)
