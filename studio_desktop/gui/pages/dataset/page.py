"""Dataset page (step 2): import images, browse them with their annotations, check data health.

States: no project open → say so and offer the Project page; a project without images → an
"Import images" panel naming the formats its task accepts (drop a folder or ZIP anywhere);
otherwise the thumbnail grid, the selected image with overlays, and the data-health charts.
``dataset.json`` is parsed in a worker thread so opening a 100,000-image project never
freezes the window.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ....core.datasets import DatasetStore
from ....tasks import get_task
from ...models.images import ImageListModel, LoadedImages, load_image_rows
from ...widgets.overlays import class_styles
from ...widgets.thumbnails import ThumbnailDelegate, ThumbnailLoader
from ..placeholder import MessagePanel
from .background import BackgroundCall
from .browser import FilterBar, ThumbnailGrid, focus_shortcut
from .controller import formats_sentence
from .detail import ImageDetail
from .health import HealthPanel
from .import_dialog import ImportDialog

NO_PROJECT, LOADING, EMPTY, BROWSE = range(4)
#: annotation fields whose records name their classes (see ImageRecord.class_ids)
CLASS_FIELDS = ("label", "boxes", "instances", "rboxes")


def _droppable(event) -> Path | None:
    """The dropped folder or ZIP file, if the drag carries exactly one local one."""
    urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
    if len(urls) != 1 or not urls[0].isLocalFile():
        return None
    path = Path(urls[0].toLocalFile())
    return path if path.is_dir() or path.suffix.lower() in (".zip", ".json", ".csv") else None


class DatasetPage(QWidget):
    """Browse and import the open project's images."""

    #: emitted after the dataset finished loading into the grid (tests and benchmarks wait on it)
    loaded = Signal()

    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.setAcceptDrops(True)
        self.store: DatasetStore | None = None
        self.dialog: ImportDialog | None = None
        self.error = ""
        self.model = ImageListModel(self)
        self.loader = ThumbnailLoader(parent=self)
        self._load = BackgroundCall(self)
        self._load.done.connect(self._on_loaded)
        self._load.failed.connect(self._on_load_failed)
        self._load.partial.connect(self._on_first_records)
        self._delete = BackgroundCall(self)
        self._delete.done.connect(lambda _n: (self.ctx.datasetChanged.emit(), self.ctx.projectsChanged.emit()))
        self._delete.failed.connect(lambda msg: QMessageBox.warning(self, "Delete images", msg))

        self.stack = QStackedWidget()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.stack)
        self.no_project = MessagePanel(
            "No project open", "The Dataset page shows the images of the open project. "
            "Open or create a project first.", "Go to the Project page")
        self.no_project.button.clicked.connect(lambda: self.ctx.showPageRequested.emit("project"))
        self.loading = MessagePanel("Loading the dataset…", "")
        self.empty = MessagePanel("Import images", "", "Import images…")
        self.empty.button.setToolTip("Choose a folder, ZIP or annotation file to import (Ctrl+I)")
        self.empty.button.clicked.connect(lambda: self.open_import())
        for w in (self.no_project, self.loading, self.empty, self._build_browser()):
            self.stack.addWidget(w)
        QShortcut(QKeySequence("Ctrl+I"), self, self.open_import,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        ctx.projectChanged.connect(lambda _p: self.reload())
        ctx.projectUpdated.connect(lambda _p: self.reload())
        ctx.datasetChanged.connect(self._on_dataset_changed)
        self.reload()

    # ------------------------------------------------------------------ building
    def _build_browser(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        bar = QHBoxLayout()
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Import images and annotations from a folder, ZIP or file (Ctrl+I)")
        self.import_button.clicked.connect(lambda: self.open_import())
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Remove the selected images from the project (Delete); asks first")
        self.delete_button.clicked.connect(self.delete_selected)
        self.filters = FilterBar()
        self.filters.filterChanged.connect(self.model.set_filter)
        self.model.countsChanged.connect(self.filters.set_counts)
        bar.addWidget(self.import_button)
        bar.addWidget(self.delete_button)
        bar.addWidget(self.filters, 1)
        lay.addLayout(bar)
        self.status = QLabel("")
        self.status.setStyleSheet("color:#c0392b")
        self.status.setVisible(False)
        lay.addWidget(self.status)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.grid = ThumbnailGrid()
        self.grid.setModel(self.model)
        self.delegate = ThumbnailDelegate(self.loader, self._thumbnail_path, self.grid)
        self.grid.setItemDelegate(self.delegate)
        self.grid.setGridSize(self.delegate.cell)
        self.loader.loaded.connect(self.grid.thumbnail_ready)
        self.grid.selectionModel().currentChanged.connect(lambda cur, _prev: self._show_row(cur.row()))
        QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.grid, self.delete_selected,
                  context=Qt.ShortcutContext.WidgetShortcut)
        focus_shortcut(page, self.filters.search, "Ctrl+F")
        self.tabs = QTabWidget()
        self.detail = ImageDetail()
        self.detail.previousRequested.connect(lambda: self._step(-1))
        self.detail.nextRequested.connect(lambda: self._step(1))
        self.health = HealthPanel(self.ctx)
        self.tabs.addTab(self.detail, "Image")
        self.tabs.addTab(self.health, "Data health")
        self.tabs.setTabToolTip(0, "The selected image with its annotations")
        self.tabs.setTabToolTip(1, "Charts and warnings about the dataset: class balance, sizes, duplicates")
        split.addWidget(self.grid)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay.addWidget(split, 1)
        return page

    # ------------------------------------------------------------------ loading
    def reload(self) -> None:
        """Show the state that fits the open project and (re)load its images in the background."""
        project = self.ctx.project
        self.loader.clear()
        if project is None:
            self.store = None
            self._load.cancel()
            self.model.set_images(LoadedImages())
            self.stack.setCurrentIndex(NO_PROJECT)
            return
        self.store = DatasetStore(self.ctx.workspace, project.id)
        self.empty.set_message(
            "Import images",
            f"<b>{project.name}</b> has no images yet. A {get_task(project.task).display_name.lower()} "
            f"project imports: {formats_sentence(project.task)}.<br><br>"
            "Click the button, press Ctrl+I, or drop a folder or ZIP file on this page.",
            "Import images…")
        self.filters.set_choices(self._filter_classes(), [])
        writable = not self.ctx.read_only
        for b in (self.import_button, self.delete_button, self.empty.button):
            b.setEnabled(writable)
        if self.model.total == 0:
            self.stack.setCurrentIndex(LOADING)
        path = self.store.json_path
        self._load.start(lambda report: load_image_rows(path, report), with_partial=True)

    def _filter_classes(self) -> list[tuple[int, str]]:
        """Classes the class filter offers: those records name (labels, boxes, instances,
        rotated boxes); classes that live only in mask pixels cannot be filtered on."""
        project = self.ctx.project
        if project is None or get_task(project.task).annotation not in CLASS_FIELDS:
            return []
        return [(c.id, c.name) for c in project.classes]

    def _on_dataset_changed(self) -> None:
        self.health.invalidate()
        self.reload()

    def _on_first_records(self, first: LoadedImages) -> None:
        """Show the first screen while the rest of a large dataset is still being read."""
        if self.model.total == 0:
            self.model.set_images(first)
            self.stack.setCurrentIndex(BROWSE)
            self.filters.count.setText(f"{len(first.rows):,}+ images (reading the rest…)")

    def _on_loaded(self, loaded: LoadedImages) -> None:
        self.error = ""
        self.status.setVisible(False)
        self.filters.set_choices(self._filter_classes(), loaded.tags)
        current = self.grid.currentIndex()
        current_id = self.model.row(current.row()).id if current.isValid() else None
        scroll = self.grid.verticalScrollBar().value()
        self.model.set_images(loaded)
        self.stack.setCurrentIndex(BROWSE if loaded.rows else EMPTY)
        if loaded.rows:
            row = self.model.visible_row_of(current_id) if current_id else -1
            self.grid.setCurrentIndex(self.model.index(max(row, 0)))
            self.grid.verticalScrollBar().setValue(scroll)
        self.loaded.emit()

    def _on_load_failed(self, message: str) -> None:
        self.error = message
        self.stack.setCurrentIndex(BROWSE)
        self.status.setText(f"The dataset cannot be read: {message}")
        self.status.setVisible(True)
        self.loaded.emit()

    def _thumbnail_path(self, image_id: str) -> str:
        return str(self.store.thumbnail_path(image_id)) if self.store else ""

    # ------------------------------------------------------------------ detail
    def _show_row(self, row: int) -> None:
        if row < 0 or row >= self.model.rowCount() or self.store is None:
            self.detail.show_message("Select an image in the grid")
            return
        try:
            record = self.model.record(row)
        except Exception as exc:  # noqa: BLE001 - a bad record is shown as one line
            self.detail.show_message(str(exc))
            return
        self.detail.show_record(record, str(self.store.path_of(record.file)), class_styles(self.ctx.project),
                                self.store.path_of)

    def _step(self, delta: int) -> None:
        n = self.model.rowCount()
        if not n:
            return
        row = min(max(self.grid.currentIndex().row() + delta, 0), n - 1)
        self.grid.setCurrentIndex(self.model.index(row))

    # ------------------------------------------------------------------ import / delete
    def open_import(self, source: Path | None = None) -> ImportDialog | None:
        if self.ctx.project is None or self.ctx.read_only:
            return None
        self.dialog = ImportDialog(self.ctx.workspace.root, self.ctx.project, source, self)
        self.dialog.imported.connect(self._on_imported)
        self.dialog.open()
        return self.dialog

    def _on_imported(self, _report) -> None:
        self.ctx.datasetChanged.emit()
        self.ctx.projectsChanged.emit()

    def delete_selected(self) -> None:
        rows = self.grid.selected_rows()
        if not rows or self.ctx.project is None or self.ctx.read_only:
            return
        ids = [self.model.row(r).id for r in rows]
        answer = QMessageBox.question(
            self, "Delete images",
            f"Remove {len(ids):,} image{'s' if len(ids) != 1 else ''} and their annotations from "
            f"'{self.ctx.project.name}'? The original files outside the project are not touched.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        from ....core.importing import delete_images

        ws, pid = self.ctx.workspace, self.ctx.project.id
        self._delete.start(lambda: delete_images(ws, pid, ids))

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event) -> None:
        if self.ctx.project is not None and not self.ctx.read_only and _droppable(event):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        path = _droppable(event)
        if path is not None:
            event.acceptProposedAction()
            self.open_import(path)

    def closeEvent(self, event) -> None:
        self.loader.shutdown()
        super().closeEvent(event)
