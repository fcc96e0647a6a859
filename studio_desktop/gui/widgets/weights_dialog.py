"""The Weights dialog: every model's pretrained weights, their state and size; Download,
Import (a chosen or dropped file), Delete; the mirror setting.

Opened from the Tools menu and from the Training page next to the model choice. It never
downloads or loads weights itself: downloads and imports are worker jobs (``download-weights``,
``import-weights``) that appear in the status bar with Stop like training does, so the window
never waits on the network or on torch. States come from the torch-free store
(``core/weights.py``): sizes at once, checksums on a background thread.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from ...core.download import mb
from ...core.errors import StudioError
from ...core.train_config import MODEL_CATALOG
from ...core.weights import (
    IMPORT_SUFFIXES,
    MIRROR_ENV,
    ModelWeights,
    cache_dir,
    catalog_models,
    delete_weights,
    effective_mirror,
    model_weights,
    save_mirror,
    saved_mirror,
    weights_jobs_folder,
)

DOWNLOAD_JOB, IMPORT_JOB = "download-weights", "import-weights"
COLUMNS = ["Model", "Pretrained weights", "Size", "State"]
ERROR_STYLE = "color: #c0392b;"


# --------------------------------------------------------------------------- jobs (shared with the Training page)


def job_id(model: str) -> str:
    return f"weights-{model}"


def running_job(ctx, model: str, kind: str = DOWNLOAD_JOB):
    jobs = getattr(ctx, "jobs", None)
    return jobs.job_for(job_id(model), kind) if jobs is not None else None


def start_download(ctx, model: str):
    """Start (or return the running) download job of ``model``'s weights."""
    job = running_job(ctx, model)
    if job is not None:
        return job
    ws = ctx.workspace
    return ctx.jobs.start_worker(ws, DOWNLOAD_JOB, [model], weights_jobs_folder(ws.root, model),
                                 experiment_id=job_id(model), name=f"Download {model} weights")


def start_import(ctx, model: str, path: str | Path):
    ws = ctx.workspace
    return ctx.jobs.start_worker(ws, IMPORT_JOB, [model, str(path)], weights_jobs_folder(ws.root, model, "import"),
                                 experiment_id=job_id(model), name=f"Import {model} weights")


def state_text(status: ModelWeights, job=None, verified: bool = False) -> tuple[str, str]:
    """(short state for the table, longer explanation for its tooltip)."""
    if job is not None and job.is_running:
        if job.kind == IMPORT_JOB:
            return "Checking the file…", "The file is being checked and copied into the cache"
        pct = f" {100 * job.fraction:.0f} %" if job.total_steps else ""
        return f"Downloading…{pct}", job.message or "starting"
    state = status.state
    if state == "none":
        return "No pretrained weights", status.reason[:1].upper() + status.reason[1:]
    if state == "missing":
        return "Not downloaded", "Download them here, or import the file if this computer has no internet"
    if state == "corrupt":
        return "Damaged", "The cached file has the wrong size or checksum: delete it and download again"
    used = status.in_use
    if used is not None and used.weights is None:
        return "Ready (imported)", f"Imported file {used.path.name}"
    return ("Ready ✓" if verified else "Ready"), (
        "On this computer, checksum verified" if verified else "On this computer (checksum being verified)")


# --------------------------------------------------------------------------- the dialog


class _Verifier(QObject):
    """Computes checksums on a plain thread; results come back as a queued signal."""

    done = Signal(dict)

    def start(self, models: list[str]) -> None:
        def work():
            out = {}
            for m in models:
                try:
                    out[m] = model_weights(m, verify=True)
                except (OSError, StudioError):
                    continue
            self.done.emit(out)

        threading.Thread(target=work, name="verify-weights", daemon=True).start()


class WeightsDialog(QDialog):
    """Pretrained weights of every catalog model, with Download / Import / Delete."""

    #: weights appeared, changed or were deleted (the Training page refreshes its state line)
    weightsChanged = Signal()

    def __init__(self, ctx, parent=None, model: str | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Pretrained weights")
        self.setObjectName("weights_dialog")
        self.setAcceptDrops(True)
        self.resize(860, 600)
        self.models = catalog_models()
        self.displays = {m.name: m.display for infos in MODEL_CATALOG.values() for m in infos}
        self.status: dict[str, ModelWeights] = {}
        self.verified: set[str] = set()
        self._followed: set[int] = set()

        lay = QVBoxLayout(self)
        intro = QLabel(
            "Networks that start from weights learned on ImageNet (1.2 million photos) train much faster and "
            "need far fewer images. Weights are downloaded once and shared by every project. <b>No internet "
            "here?</b> Download the file on another computer (its address is in the tooltip of each row) and "
            "import it, or drop it on this window.")
        intro.setWordWrap(True)
        lay.addWidget(intro)

        self.table = QTableWidget(len(self.models), len(COLUMNS))
        self.table.setObjectName("weights_table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col in (0, 2, 3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        lay.addWidget(self.table, 1)

        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.detail)
        self.error = QLabel()
        self.error.setObjectName("weights_error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.hide()
        lay.addWidget(self.error)

        buttons = QHBoxLayout()
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download the selected model's weights (progress in the status bar; "
                                        "Stop there or here cancels and keeps nothing)")
        self.download_button.clicked.connect(self.download_or_cancel)
        self.import_button = QPushButton("Import file…")
        self.import_button.setToolTip("Choose a .pth / .pt / .safetensors file for the selected model: it is "
                                      "checked against the architecture and copied into the cache")
        self.import_button.clicked.connect(self.choose_import)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Remove the selected model's cached weights from this computer")
        self.delete_button.clicked.connect(lambda: self.delete_selected())
        open_button = QPushButton("Open cache folder")
        open_button.setToolTip(f"Show {cache_dir()} in the file manager")
        open_button.clicked.connect(self._open_cache)
        for b in (self.download_button, self.import_button, self.delete_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(open_button)
        lay.addLayout(buttons)

        mirror_row = QHBoxLayout()
        mirror_label = QLabel("Mirror:")
        self.mirror_edit = QLineEdit(saved_mirror(ctx.workspace.root))
        self.mirror_edit.setObjectName("weights_mirror")
        self.mirror_edit.setPlaceholderText("empty: the official addresses (e.g. https://download.pytorch.org)")
        tip = ("A web address (or a folder) that serves the same file names as the official source, for company "
               f"networks and air-gapped sites: any web server over a folder of the files. ${MIRROR_ENV} wins over "
               "this setting; proxies come from the environment (https_proxy, no_proxy).")
        self.mirror_edit.setToolTip(tip)
        mirror_label.setToolTip(tip)
        self.mirror_save = QPushButton("Save")
        self.mirror_save.setToolTip("Keep this mirror for this workspace")
        self.mirror_save.clicked.connect(self.save_mirror)
        self.mirror_edit.returnPressed.connect(self.save_mirror)
        self.mirror_note = QLabel()
        self.mirror_note.setWordWrap(True)
        mirror_row.addWidget(mirror_label)
        mirror_row.addWidget(self.mirror_edit, 1)
        mirror_row.addWidget(self.mirror_save)
        lay.addLayout(mirror_row)
        lay.addWidget(self.mirror_note)

        close_row = QHBoxLayout()
        close_row.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        close_row.addWidget(close)
        lay.addLayout(close_row)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.table,
                  activated=lambda: self.delete_selected())

        self._verifier = _Verifier(self)
        self._verifier.done.connect(self._verified)
        self.refresh()
        self._update_mirror_note()
        self.select(model if model in self.models else self.models[0])
        self._verifier.start(self.models)
        if ctx.jobs is not None:
            ctx.jobs.jobsChanged.connect(self._jobs_changed)
            self._jobs_changed()

    # ------------------------------------------------------------------ state
    def refresh(self) -> None:
        for row, model in enumerate(self.models):
            try:
                self.status[model] = model_weights(model)
            except (OSError, StudioError):
                continue
            self._fill_row(row, model)
        self._selection_changed()

    def _fill_row(self, row: int, model: str) -> None:
        status = self.status[model]
        w = status.default
        job = running_job(self.ctx, model) or running_job(self.ctx, model, IMPORT_JOB)
        state, why = state_text(status, job, model in self.verified)
        cells = [self.displays.get(model, model), w.title if w else "—", mb(w.approx_bytes) if w else "", state]
        tips = [model, (f"{w.url}\n{w.licence}" if w else status.reason), "", why]
        for col, (text, tip) in enumerate(zip(cells, tips, strict=True)):
            item = self.table.item(row, col)
            if item is None:
                item = QTableWidgetItem()
                self.table.setItem(row, col, item)
            item.setText(text)
            item.setToolTip(tip)

    def _verified(self, results: dict) -> None:
        for model, status in results.items():
            if model in self.models:
                self.status[model] = status
                self.verified.add(model)
                self._fill_row(self.models.index(model), model)
        self._selection_changed()

    def _jobs_changed(self) -> None:
        for row, model in enumerate(self.models):
            for kind in (DOWNLOAD_JOB, IMPORT_JOB):
                job = running_job(self.ctx, model, kind)
                if job is not None and id(job) not in self._followed:
                    self._followed.add(id(job))
                    job.finished.connect(lambda j=job: self._job_finished(j))
            if model in self.status:
                self._fill_row(row, model)
        self._selection_changed()

    def _job_finished(self, job) -> None:
        model = job.experiment_id.removeprefix("weights-")
        if job.state == "failed":
            self.show_error(f"{model}: {job.error}" + (f" ({job.hint})" if job.hint else ""))
        elif job.state == "completed":
            self.show_error("")
        self.verified.discard(model)
        self.refresh()
        self._verifier.start([model])
        self.weightsChanged.emit()

    # -------------------------------------------------------------- selection
    def select(self, model: str) -> None:
        if model in self.models:
            self.table.selectRow(self.models.index(model))

    def selected_model(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.models[rows[0].row()] if rows else None

    def _selection_changed(self) -> None:
        model = self.selected_model()
        status = self.status.get(model) if model else None
        writable = self.ctx.workspace.writable
        job = running_job(self.ctx, model) if model else None
        has = bool(status and status.available)
        self.download_button.setText("Cancel download" if job is not None else "Download")
        official_ready = any(f.weights is not None and f.state == "ready" for f in status.files) if status else False
        self.download_button.setEnabled(writable and has and (job is not None or not official_ready))
        self.import_button.setEnabled(writable and model is not None)
        self.delete_button.setEnabled(bool(status and status.files) and job is None)
        if not writable:
            self.download_button.setToolTip("This workspace is open read-only (another AI Studio window holds it)")
        if status is None:
            self.detail.setText("")
            return
        w, used = status.default, status.in_use
        lines = []
        if w is not None:
            lines.append(f"<b>{self.displays.get(model, model)}</b>: {w.title}, {w.num_params / 1e6:.1f} M "
                         f"parameters; trained at {w.crop_size} px (images resized to {w.resize_size}, centre "
                         f"crop {w.crop_size}, ImageNet mean/std). {w.licence}")
        else:
            lines.append(f"<b>{self.displays.get(model, model)}</b>: {status.reason}.")
        if used is not None:
            lines.append(f"File: {used.path} ({mb(used.size)}){'; ' + used.origin if used.origin else ''}")
        elif w is not None:
            lines.append(f"Not on this computer. Official address: {w.url}")
        self.detail.setText("<br>".join(lines))

    # ---------------------------------------------------------------- actions
    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def download_or_cancel(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        job = running_job(self.ctx, model)
        if job is not None:
            job.stop()
            return
        self.show_error("")
        try:
            start_download(self.ctx, model)
        except (RuntimeError, StudioError, OSError) as exc:
            self.show_error(f"Could not start the download: {exc}")
        self._jobs_changed()

    def choose_import(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        patterns = " ".join(f"*{s}" for s in IMPORT_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, f"Weights file for {self.displays.get(model, model)}", "",
                                              f"Weights files ({patterns});;All files (*)")
        if path:
            self.import_file(model, path)

    def import_file(self, model: str, path: str | Path):
        path = Path(path)
        if path.suffix.lower() not in IMPORT_SUFFIXES:
            self.show_error(f"{path.name}: not a weights file (choose a {', '.join(IMPORT_SUFFIXES)} file)")
            return None
        self.show_error("")
        try:
            job = start_import(self.ctx, model, path)
        except (RuntimeError, StudioError, OSError) as exc:
            self.show_error(f"Could not start the import: {exc}")
            return None
        self._jobs_changed()
        return job

    def delete_selected(self, confirm: bool = True) -> list[Path]:
        model = self.selected_model()
        status = self.status.get(model) if model else None
        if status is None or not status.files:
            return []
        names = "\n".join(str(f.path) for f in status.files)
        if confirm and QMessageBox.question(
                self, "Delete weights", f"Delete the cached weights of {model}?\n\n{names}\n\nYou can download "
                "or import them again later.", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No) != QMessageBox.StandardButton.Yes:
            return []
        try:
            removed = delete_weights(model)
        except OSError as exc:
            self.show_error(f"Could not delete: {exc}")
            return []
        self.verified.discard(model)
        self.refresh()
        self.weightsChanged.emit()
        return removed

    def save_mirror(self) -> None:
        try:
            self.ctx.workspace.ensure_writable()
            save_mirror(self.ctx.workspace.root, self.mirror_edit.text())
        except StudioError as exc:
            self.show_error(str(exc))
            return
        self.show_error("")
        self.mirror_edit.setText(saved_mirror(self.ctx.workspace.root))
        self._update_mirror_note()

    def _update_mirror_note(self) -> None:
        try:
            mirror, where = effective_mirror(self.ctx.workspace.root)
        except StudioError as exc:
            self.mirror_note.setText(str(exc))
            return
        if where == MIRROR_ENV:
            self.mirror_note.setText(f"Downloads use {mirror} (set by ${MIRROR_ENV}, which wins over this setting).")
        elif mirror:
            self.mirror_note.setText(f"Downloads use the mirror {mirror}.")
        else:
            self.mirror_note.setText("Downloads use the official addresses.")

    def _open_cache(self) -> None:
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # ------------------------------------------------------------ drag and drop
    @staticmethod
    def _dropped_files(event) -> list[Path]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if any(p.suffix.lower() in IMPORT_SUFFIXES for p in self._dropped_files(event)):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        files = [p for p in self._dropped_files(event) if p.suffix.lower() in IMPORT_SUFFIXES]
        model = self.selected_model()
        if not files or model is None:
            return
        event.acceptProposedAction()
        self.import_file(model, files[0])
