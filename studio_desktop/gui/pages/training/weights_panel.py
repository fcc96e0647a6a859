"""The Training page's side of pretrained weights: a state line under the model choice, the
pretrained check box's availability, and the check before a run starts.

A run never starts silently from scratch when the user asked for pretrained weights that are
not on this computer: Start asks whether to download them now (the run starts when the
download is done), import a file, or train from scratch. Learning rates follow the model, the
weights and the fine-tuning mode (``core.train_config.suggested_lr``) unless the user typed one.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPushButton, QVBoxLayout, QWidget

from ....core.download import mb
from ....core.errors import StudioError
from ....core.train_config import suggested_lr
from ....core.weights import ModelWeights, model_weights
from ...widgets.weights_dialog import (
    DOWNLOAD_JOB,
    IMPORT_JOB,
    WeightsDialog,
    running_job,
    start_download,
)

READY_STYLE = "color: #2e7d32;"
MISSING_STYLE = "color: #b26a00;"
NEUTRAL_STYLE = "color: #666;"


class WeightsLine(QWidget):
    """One line under the model: are its pretrained weights ready? [Download now]. Its
    ``dialog_button`` (Weights…) is placed by the form next to the model choice."""

    downloadRequested = Signal()
    dialogRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.label = QLabel()
        self.label.setObjectName("weights_state")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.download_button = QPushButton("Download now")
        self.download_button.setObjectName("weights_download_now")
        self.download_button.setToolTip("Download the chosen model's pretrained weights now (progress in the "
                                        "status bar); they are kept for every later experiment")
        self.download_button.clicked.connect(self.downloadRequested)
        self.dialog_button = QPushButton("Weights…")
        self.dialog_button.setObjectName("weights_dialog_button")
        self.dialog_button.setToolTip("Every model's pretrained weights: download, import a file, delete, mirror")
        self.dialog_button.clicked.connect(self.dialogRequested)
        lay.addWidget(self.label)
        row = QHBoxLayout()
        row.addWidget(self.download_button)
        row.addStretch(1)
        lay.addLayout(row)

    def show_state(self, text: str, style: str, can_download: bool, tip: str = "") -> None:
        self.label.setText(text)
        self.label.setStyleSheet(style)
        self.label.setToolTip(tip)
        self.download_button.setVisible(can_download)


def describe(status: ModelWeights, job, pretrained: bool, input_size: int | None) -> tuple[str, str, bool, str]:
    """(text, style, offer a download, tooltip) for the state line."""
    w = status.default
    if status.state == "none":
        return "No pretrained weights for this model.", NEUTRAL_STYLE, False, status.reason
    if job is not None and job.is_running:
        if job.kind == IMPORT_JOB:
            return "Checking the imported weights file…", NEUTRAL_STYLE, False, ""
        pct = f" {100 * job.fraction:.0f} %" if job.total_steps else ""
        return f"Downloading the pretrained weights…{pct}.", NEUTRAL_STYLE, False, job.message or ""
    size = f" ({mb(w.approx_bytes)})" if w else ""
    other_way = ("No internet here? Download the file on another computer and import it with Weights…"
                 + (f" (official address: {w.url})" if w else ""))
    if status.state == "ready":
        used = status.in_use
        if used is not None and used.weights is None:
            text = f"✓ Imported weights ready ({used.path.name})."
        else:
            text = f"✓ Pretrained weights ready ({(used.weights or w).name})."
        tip = f"{used.path}" + (f"\n{used.origin}" if used.origin else "") if used else ""
        if not pretrained:
            text += " Tick 'Start from pretrained weights' to use them."
        elif w and input_size and input_size != w.crop_size:
            text += f" Trained at {w.crop_size} px: {input_size} px is faster, usually less accurate."
        return text, READY_STYLE, False, tip
    if status.state == "corrupt":
        return f"The cached pretrained weights are damaged{size}.", MISSING_STYLE, bool(w), \
            "Download them again (the damaged file is replaced), or delete it in Weights…"
    if not pretrained:
        return f"Pretrained weights not downloaded{size}: this run trains from scratch.", NEUTRAL_STYLE, \
            bool(w), other_way
    return f"Pretrained weights not downloaded yet{size}.", MISSING_STYLE, bool(w), other_way


class WeightsAdvisor(QObject):
    """Keeps the form's weights line and pretrained setting in step with the store and jobs."""

    def __init__(self, page):
        super().__init__(page)
        self.page = page
        self.form = page.form
        self.ctx = page.ctx
        self.dialog: WeightsDialog | None = None
        #: the model whose download should start training when it completes
        self.pending_start: str | None = None
        line = self.form.weights_line
        line.downloadRequested.connect(lambda: self.download(self.model()))
        line.dialogRequested.connect(lambda: self.open_dialog(self.model()))
        self.form.modelPicked.connect(self._model_picked)
        self.form.rows["pretrained"].widget.toggled.connect(lambda _v: self._suggest_lr())
        self.form.rows["finetune"].widget.currentIndexChanged.connect(lambda _i: self._suggest_lr())
        if self.ctx.jobs is not None:
            self.ctx.jobs.jobsChanged.connect(self.refresh)
            self.ctx.jobs.jobFinished.connect(self._job_finished)

    # ------------------------------------------------------------------ state
    def model(self) -> str | None:
        return self.form.rows["model"].widget.currentData()

    def status(self, model: str | None = None) -> ModelWeights | None:
        model = model or self.model()
        if not model:
            return None
        try:
            return model_weights(model)
        except (OSError, StudioError):
            return None

    def refresh(self) -> None:
        model = self.model()
        status = self.status(model)
        if status is None:
            return
        self.form.set_pretrained_available(status.state != "none", status.reason)
        job = running_job(self.ctx, model) or running_job(self.ctx, model, IMPORT_JOB)
        values = self.form.values()
        size = values.get("input_size") if isinstance(values.get("input_size"), int) else None
        text, style, can, tip = describe(status, job, bool(values.get("pretrained")), size)
        if self.pending_start == model and job is not None:
            text += " Training starts when it is done."
        self.form.weights_line.show_state(text, style, can and self.ctx.workspace.writable, tip)

    def _model_picked(self, _model: str) -> None:
        self.refresh()
        self._suggest_lr()

    def _suggest_lr(self) -> None:
        controller = self.page.controller
        model = self.model()
        if controller is None or not model:
            return
        values = self.form.values()
        pretrained = bool(values.get("pretrained")) and self.form.rows["pretrained"].widget.isEnabled()
        self.form.suggest_lr(suggested_lr(controller.project.task, model, pretrained, str(values.get("finetune"))))

    # ---------------------------------------------------------------- actions
    def download(self, model: str | None):
        if not model:
            return None
        try:
            job = start_download(self.ctx, model)
        except (RuntimeError, StudioError, OSError) as exc:
            self.page.start_error.setText(f"Could not start the download: {exc}")
            return None
        self.refresh()
        return job

    def open_dialog(self, model: str | None = None) -> WeightsDialog:
        if self.dialog is not None:
            self.dialog.select(model or "")
            self.dialog.raise_()
            return self.dialog
        self.dialog = WeightsDialog(self.ctx, self.page, model)
        self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog.weightsChanged.connect(self.refresh)
        self.dialog.destroyed.connect(lambda: setattr(self, "dialog", None))
        self.dialog.show()
        return self.dialog

    def _job_finished(self, job) -> None:
        if job.kind not in (DOWNLOAD_JOB, IMPORT_JOB):
            return
        self.refresh()
        model = job.experiment_id.removeprefix("weights-")
        if self.pending_start != model or job.kind != DOWNLOAD_JOB:
            return
        self.pending_start = None
        if job.state == "completed" and self.model() == model:
            self.page.start()
        elif job.state == "failed":
            self.page.start_error.setText(f"The weights could not be downloaded: {job.error}"
                                          + (f" ({job.hint})" if job.hint else ""))

    # ------------------------------------------------------------ before start
    def ask(self, status: ModelWeights) -> str:
        """"download" | "import" | "scratch" | "cancel" (a message box; tests replace it)."""
        w = status.default
        name = self.form.rows["model"].widget.currentText().split(" · ")[0]
        box = QMessageBox(self.page)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Pretrained weights")
        damaged = status.state == "corrupt"
        box.setText(f"{name}'s pretrained weights are {'damaged' if damaged else 'not on this computer'}.")
        box.setInformativeText(
            "Starting from them trains much faster and needs far fewer images. Download them now "
            f"({mb(w.approx_bytes) if w else 'a few MB'}; training starts when the download is done), import a "
            "file downloaded on another computer, or train from scratch.")
        download = box.addButton("Download now", QMessageBox.ButtonRole.AcceptRole)
        imp = box.addButton("Import a file…", QMessageBox.ButtonRole.ActionRole)
        scratch = box.addButton("Train from scratch", QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(download)
        box.setEscapeButton(cancel)
        box.exec()
        return {download: "download", imp: "import", scratch: "scratch"}.get(box.clickedButton(), "cancel")

    def check_before_start(self, config) -> bool:
        """Whether the run may start now. When the pretrained weights it asks for are missing,
        the user chooses: download (and the run starts afterwards), import, or from scratch."""
        if not config.pretrained or config.weights_file:
            return True
        status = self.status(config.model)
        if status is None or status.state in ("ready", "none"):
            return True
        if running_job(self.ctx, config.model) is not None:
            self.pending_start = config.model
            self.refresh()
            return False
        choice = self.ask(status)
        if choice == "download":
            if self.download(config.model) is not None:
                self.pending_start = config.model
                self.refresh()
            return False
        if choice == "import":
            self.open_dialog(config.model).choose_import()
            return False
        if choice == "scratch":
            self.form.rows["pretrained"].widget.setChecked(False)
            return True
        return False
