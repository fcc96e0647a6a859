"""The Split page (step 3): divide the images into training, validation and test subsets.

Settings on the left, the preview (chart, table, warnings) on the right, saved splits below.
A split is previewed (Ctrl+P), then saved (Ctrl+S); a saved split is locked for good because
experiments refer to it. Without a project, or without images, the page says what to do first.

The right side shows one split at a time: the preview, or the saved split selected in the list
(from its saved stats and warnings). The page opens on the newest saved split; selecting one
drops an unsaved preview (Preview computes it again from the settings, which are kept).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QRectF, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ....core.errors import StudioError
from ...context import AppContext
from ..placeholder import MessagePanel
from .controller import SplitController, SplitListing
from .controls import SplitOptions
from .preview import PreviewPanel

READ_ONLY_TIP = "This workspace is open read-only (another AI Studio window uses it): splits cannot be saved."
LIST_COLUMNS = ["Name", "Created", "Images per subset", "Seed", "Method", "Used by", "Not in split"]


def lock_icon(size: int = 16) -> QIcon:
    """A small padlock, drawn (no emoji font is needed): the badge of an immutable split."""
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    color = QColor("#8a6d00")
    p.setPen(QPen(color, size / 8))
    p.drawArc(QRectF(size * 0.28, size * 0.08, size * 0.44, size * 0.52), 0, 180 * 16)
    p.drawLine(int(size * 0.28), int(size * 0.34), int(size * 0.28), int(size * 0.48))
    p.drawLine(int(size * 0.72), int(size * 0.34), int(size * 0.72), int(size * 0.48))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#d4a017"))
    p.drawRoundedRect(QRectF(size * 0.16, size * 0.45, size * 0.68, size * 0.5), size * 0.08, size * 0.08)
    p.end()
    return QIcon(pix)


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(str)


class _Job(QRunnable):
    """Runs a controller call off the GUI thread (large datasets only)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.signals = _Signals()

    def run(self) -> None:
        try:
            result = self.fn()
        except StudioError as exc:
            self.signals.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must reach the user as a message
            self.signals.failed.emit(f"{type(exc).__name__}: {exc}")
        else:
            self.signals.done.emit(result)


class SplitPage(QWidget):
    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.controller: SplitController | None = None
        self.plan = None
        self.listing = SplitListing()
        self._jobs: set[_Job] = set()
        #: bumped by every settings change, so that a preview finishing late is recognised as stale
        self._generation = 0
        self._lock = lock_icon()
        #: id of the saved split on display (None: a preview, or nothing)
        self._shown_split: str | None = None
        #: split to select once the list is loaded (the one just saved)
        self._select_next: str | None = None

        self.stack = QStackedWidget(self)
        QVBoxLayout(self).addWidget(self.stack)
        self.message = MessagePanel("Split", "")
        self.message.button.clicked.connect(self._message_action)
        self.stack.addWidget(self.message)

        # ---- settings and actions (left), preview (right)
        self.options = SplitOptions()
        self.preview_button = QPushButton("Preview")
        self.preview_button.setObjectName("split_preview")
        self.preview_button.setToolTip("Compute how the images would be divided, without saving (Ctrl+P)")
        self.save_button = QPushButton("Save split")
        self.save_button.setObjectName("split_save")
        self.save_button.setToolTip("Save the previewed split; it is locked from then on (Ctrl+S)")
        self.status = QLabel()
        self.status.setObjectName("split_status")
        self.status.setWordWrap(True)
        self.status.setMinimumHeight(self.status.fontMetrics().lineSpacing() * 4)
        self.status.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        buttons = QHBoxLayout()
        buttons.addWidget(self.preview_button)
        buttons.addWidget(self.save_button)
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.addWidget(self.options)
        left_lay.addLayout(buttons)
        left_lay.addWidget(self.status)
        left_lay.addStretch(1)
        self.preview = PreviewPanel()
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(left)
        top.addWidget(self.preview)
        top.setStretchFactor(1, 1)

        # ---- saved splits
        self.table = QTableWidget(0, len(LIST_COLUMNS))
        self.table.setObjectName("split_list")
        self.table.setHorizontalHeaderLabels(LIST_COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setToolTip("Saved splits. The lock means a split never changes: experiments rely on it. "
                              "'Not in split' counts images imported after the split was made; make a "
                              "new split to use them. Delete removes a split no experiment uses.")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("split_delete")
        self.delete_button.setToolTip("Delete the selected split (Delete); refused while an experiment uses it")
        self.list_title = QLabel("<b>Saved splits</b>")
        bottom = QWidget()
        bottom_lay = QVBoxLayout(bottom)
        row = QHBoxLayout()
        row.addWidget(self.list_title, 1)
        row.addWidget(self.delete_button)
        bottom_lay.addLayout(row)
        bottom_lay.addWidget(self.table)
        self.problems = QLabel()
        self.problems.setStyleSheet("color: #c62828;")
        self.problems.setWordWrap(True)
        bottom_lay.addWidget(self.problems)

        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(top)
        body.addWidget(bottom)
        body.setStretchFactor(0, 3)
        body.setStretchFactor(1, 1)
        self.body = body
        self.stack.addWidget(body)

        # ---- actions and shortcuts
        for text, key, slot in (("Preview split", "Ctrl+P", self.preview_split),
                                ("Save split", QKeySequence.StandardKey.Save, self.save_split)):
            act = QAction(text, self)
            act.setShortcut(QKeySequence(key))
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.triggered.connect(slot)
            self.addAction(act)
        self.delete_action = QAction("Delete split", self.table)
        self.delete_action.setShortcut(QKeySequence.StandardKey.Delete)
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.delete_action.triggered.connect(self.delete_selected)
        self.table.addAction(self.delete_action)
        self.preview_button.clicked.connect(self.preview_split)
        self.save_button.clicked.connect(self.save_split)
        self.delete_button.clicked.connect(self.delete_selected)
        self.options.changed.connect(self._invalidate)
        self.table.itemSelectionChanged.connect(self._on_selection)

        ctx.projectChanged.connect(lambda _p: self.refresh())
        ctx.projectUpdated.connect(lambda _p: self.refresh())
        ctx.datasetChanged.connect(self.refresh)
        ctx.experimentsChanged.connect(self.refresh_list)
        self.refresh()

    # ------------------------------------------------------------------ state
    def refresh(self) -> None:
        """Rebuild for the current project: message panel, or settings + list."""
        project = self.ctx.project
        self.plan = None
        self._shown_split = None
        self.preview.show_plan(None)
        if project is None:
            self.controller = None
            self.message.set_message("Split", "This page divides a project's images into training, validation "
                                     "and test subsets, keeping the classes balanced. Open or create a "
                                     "project first.", "Go to the Project page")
            self.stack.setCurrentWidget(self.message)
            return
        self.controller = SplitController(self.ctx.workspace, project)
        if self.controller.image_count() == 0:
            self.message.set_message("Split", f"The project '{project.name}' has no images yet. Import a "
                                     "dataset, then come back to divide it into subsets.", "Go to the Dataset page")
            self.stack.setCurrentWidget(self.message)
            return
        self.options.show_anomaly_mode(self.controller.is_anomaly)
        self.options.name.clear()  # filled with the next free name once the list is loaded
        self.stack.setCurrentWidget(self.body)
        self.refresh_list(reload=True)
        self._update_actions()

    def _message_action(self) -> None:
        self.ctx.showPageRequested.emit("project" if self.ctx.project is None else "dataset")

    def refresh_list(self, reload: bool = False) -> None:
        if self.controller is None:
            return
        controller = self.controller
        self._run(lambda: controller.listing(reload), self._show_listing)

    def _show_listing(self, listing: SplitListing) -> None:
        self.listing = listing
        name = self.options.name.text().strip()
        if not name or name.casefold() in {r.split.name.casefold() for r in listing.rows}:
            self.options.name.setText(SplitController.next_name(listing))
        keep = self._select_next or self.selected_split_id()
        self._select_next = None
        self.table.blockSignals(True)  # the rebuild is not the user selecting
        self.table.setRowCount(len(listing.rows))
        for r, row in enumerate(listing.rows):
            s = row.split
            cells = [s.name, f"{s.created:%Y-%m-%d %H:%M}", row.counts, str(s.seed), s.method,
                     ", ".join(row.experiments) or "—", str(row.not_in_split) if row.not_in_split else "—"]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, s.id)
                self.table.setItem(r, c, item)
            self.table.item(r, 0).setIcon(self._lock)
            self.table.item(r, 0).setToolTip(f"Locked: split '{s.name}' (id {s.id}) never changes. "
                                             f"Ratios {', '.join(f'{k} {v:.0%}' for k, v in s.ratios.items())}.")
            if row.not_in_split or row.missing:
                self.table.item(r, 6).setToolTip(
                    f"{row.not_in_split} image(s) were added after this split was made and are in no subset; "
                    f"{row.missing} image(s) of the split were deleted since.")
        self.list_title.setText(f"<b>Saved splits</b> ({len(listing.rows)})" if listing.rows
                                else "<b>Saved splits</b>: none yet — preview one above and save it.")
        self.problems.setText("\n".join(f"Cannot read {p}" for p in listing.problems))
        ids = [row.split.id for row in listing.rows]
        # keep the split the user looks at; with no preview on display, show the newest one
        target = keep if keep in ids else (ids[-1] if ids and self.plan is None else None)
        if target is not None:
            self.table.selectRow(ids.index(target))
        else:
            self.table.clearSelection()
        self.table.blockSignals(False)
        if target is not None:
            self._show_saved(target)
        elif self._shown_split is not None:  # the split on display was deleted
            self._shown_split = None
            self.preview.show_plan(None)
        self._update_actions()

    def _on_selection(self) -> None:
        split_id = self.selected_split_id()
        if split_id is not None and split_id != self._shown_split:
            self._show_saved(split_id)
        self._update_actions()

    def _show_saved(self, split_id: str) -> None:
        """Show a saved split from its saved stats; an unsaved preview gives way (Preview again
        computes it from the settings, which stay as they are)."""
        row = next((r for r in self.listing.rows if r.split.id == split_id), None)
        if row is None:
            return
        if self.plan is not None:
            self.plan = None
            self.status.setText(f"Showing the saved split '{row.split.name}'. Preview (Ctrl+P) shows "
                                "the current settings again.")
        self._shown_split = split_id
        self.preview.show_plan(row.split)

    def _invalidate(self) -> None:
        self._generation += 1
        if self.plan is not None:
            self.plan = None
            self.status.setText("Settings changed: preview again before saving.")
        self._update_actions()

    def _update_actions(self) -> None:
        writable = not self.ctx.read_only
        self.save_button.setEnabled(writable and self.plan is not None)
        has_sel = bool(self.table.selectionModel().selectedRows())
        self.delete_button.setEnabled(writable and has_sel)
        self.delete_action.setEnabled(writable and has_sel)
        if not writable:
            self.save_button.setToolTip(READ_ONLY_TIP)
            self.delete_button.setToolTip(READ_ONLY_TIP)

    def _run(self, fn, on_done) -> None:
        """Call ``fn`` directly, or in the thread pool when the dataset is large."""
        controller = self.controller
        if controller is not None and controller.is_large():
            job = _Job(fn)
            self._jobs.add(job)

            def finished(result) -> None:
                self._jobs.discard(job)
                if self.controller is controller:  # the project did not change meanwhile
                    on_done(result)

            def failed(message: str) -> None:
                self._jobs.discard(job)
                if self.controller is controller:
                    self._error(message)

            job.signals.done.connect(finished)
            job.signals.failed.connect(failed)
            QThreadPool.globalInstance().start(job)
            return
        try:
            result = fn()
        except StudioError as exc:
            self._error(str(exc))
            return
        on_done(result)

    def _error(self, message: str) -> None:
        self.status.setText(f"<span style='color:#c62828'>{message}</span>")
        self.preview_button.setEnabled(True)

    # ------------------------------------------------------------------ actions
    def preview_split(self) -> None:
        if self.controller is None or self.stack.currentWidget() is not self.body:
            return
        settings = self.options.settings()
        controller = self.controller
        self.status.setText("Computing the preview…")
        self.preview_button.setEnabled(False)
        generation = self._generation
        self._run(lambda: controller.preview(**settings), lambda plan: self._show_plan(plan, generation))

    def _show_plan(self, plan, generation: int) -> None:
        self.preview_button.setEnabled(True)
        if generation != self._generation:  # settings changed while it computed: that plan is stale
            self.status.setText("Settings changed while computing: preview again.")
            return
        self.plan = plan
        self._shown_split = None
        self.table.blockSignals(True)
        self.table.clearSelection()  # the right side now shows the preview, not a saved split
        self.table.blockSignals(False)
        self.preview.show_plan(plan)
        self.status.setText("Previewed. Save (Ctrl+S) to keep this split; it cannot be changed afterwards.")
        self._update_actions()

    def save_split(self) -> None:
        if self.controller is None or self.plan is None or self.ctx.read_only:
            return
        try:
            split = self.controller.save(self.options.name.text(), self.plan)
        except StudioError as exc:
            self._error(str(exc))
            return
        self.plan = None
        self.status.setText(f"Saved split '{split.name}'. It is locked: experiments can rely on it.")
        self.options.name.clear()
        self._select_next = split.id
        self.refresh_list()
        self.ctx.splitsChanged.emit()

    def selected_split_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole) if rows else None

    def delete_selected(self) -> None:
        split_id = self.selected_split_id()
        if split_id is None or self.controller is None or self.ctx.read_only:
            return
        row = next(r for r in self.listing.rows if r.split.id == split_id)
        if row.experiments:
            self.inform("Split in use", f"The split '{row.split.name}' is used by experiment(s) "
                        f"{', '.join(row.experiments)}. Delete those experiments first.")
            return
        if not self.confirm("Delete split", f"Delete the split '{row.split.name}'? This cannot be undone."):
            return
        try:
            self.controller.delete(split_id)
        except StudioError as exc:
            self.inform("Split not deleted", str(exc))
            return
        self.status.setText(f"Deleted split '{row.split.name}'.")
        self.refresh_list()
        self.ctx.splitsChanged.emit()

    # dialogs are methods so that tests can answer them
    def confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes
                                      | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def inform(self, title: str, text: str) -> None:
        QMessageBox.information(self, title, text)
