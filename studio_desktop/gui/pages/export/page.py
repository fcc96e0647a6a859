"""The Export page: experiments on the left; the new-export form and the experiment's exports in
the middle; the selected export in detail on the right.

It only assembles. Exports run as ``worker export`` processes started through the job manager
(progress here and in the status bar, Cancel writes STOP); what is shown of an export comes
from its ``export.json`` (``core/exports.py``), so the GUI never loads a model.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ....core.errors import StudioError
from ....core.exports import EXPORTABLE_TASKS
from ...widgets.curves import best_checkpoint_words
from ..placeholder import MessagePanel
from .controller import ExportController
from .details import ExportDetails
from .experiments import ExportExperimentList
from .form import ExportForm
from .history import ExportList


class ExportPage(QWidget):
    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        if ctx.jobs is None:  # page used on its own (tests): it still needs a job manager
            from ...jobs import JobManager

            ctx.jobs = JobManager(parent=self)
        self.jobs = ctx.jobs
        self.controller: ExportController | None = None
        self.experiment = None
        #: the export id the running job of the shown experiment will create
        self._pending: dict[str, str] = {}
        #: where Save as… proposes to save (tests set a path to skip the dialog)
        self.save_dialog = self._ask_save_path

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.stack = QStackedWidget()
        lay.addWidget(self.stack)
        self.panel = MessagePanel("Export", "")
        self.panel.button.clicked.connect(lambda: self.ctx.showPageRequested.emit(self._panel_target))
        self._panel_target = "project"
        self.stack.addWidget(self.panel)
        self.main = self._build_main()
        self.stack.addWidget(self.main)
        self.jobs.jobFinished.connect(self._job_finished)
        ctx.projectChanged.connect(self.set_project)
        ctx.experimentsChanged.connect(self.reload_list)
        self.set_project(ctx.project)

    # ------------------------------------------------------------------ build
    def _build_main(self) -> QWidget:
        split = QSplitter(Qt.Orientation.Horizontal)
        self.experiments = ExportExperimentList()
        self.experiments.setMinimumWidth(200)
        self.experiments.selectionChanged.connect(self.select_experiment)
        split.addWidget(self.experiments)

        middle = QWidget()
        ml = QVBoxLayout(middle)
        ml.setContentsMargins(4, 0, 4, 0)
        box = QGroupBox("New export")
        bl = QVBoxLayout(box)
        self.form = ExportForm()
        self.form.exportRequested.connect(self.export)
        self.form.cancelRequested.connect(self.cancel)
        self.form.changed.connect(self._form_changed)
        bl.addWidget(self.form)
        ml.addWidget(box, 0)
        self.history = ExportList()
        self.history.selectionChanged.connect(self._export_selected)
        ml.addWidget(self.history, 1)
        split.addWidget(middle)

        self.details = ExportDetails()
        self.details.copyRequested.connect(self.copy_snippet)
        self.details.saveRequested.connect(lambda: self.save_as())
        self.details.openRequested.connect(self.open_folder)
        self.details.deleteRequested.connect(lambda: self.delete_selected())
        split.addWidget(self.details)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setStretchFactor(2, 5)
        split.setSizes([240, 380, 640])

        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for keys, slot in (("Ctrl+Return", self.export), ("Ctrl+Enter", self.export), ("Escape", self.cancel),
                           ("Ctrl+Shift+C", self.copy_snippet)):
            QShortcut(QKeySequence(keys), split, context=context).activated.connect(slot)
        # Delete acts on the exports table only (it asks first)
        QShortcut(QKeySequence.StandardKey.Delete, self.history.table, context=Qt.ShortcutContext.WidgetShortcut
                  ).activated.connect(lambda: self.delete_selected())
        return split

    # ---------------------------------------------------------------- project
    def _show_panel(self, title: str, text: str, action: str | None = None, target: str = "project") -> None:
        self._panel_target = target
        self.panel.set_message(title, text, action)
        self.stack.setCurrentWidget(self.panel)

    def set_project(self, project) -> None:
        self.experiment = None
        if project is None:
            self.controller = None
            self._show_panel("Export", "Export turns a trained model into a file other programs can run (ONNX, "
                             "TorchScript, OpenVINO), checked against PyTorch on real images before it is "
                             "offered. Open or create a project first.", "Go to the Project page", "project")
            return
        self.controller = ExportController(self.ctx.workspace, project)
        if not self.controller.exportable:
            tasks = " and ".join(sorted(t.replace("_", " ") for t in EXPORTABLE_TASKS))
            self._show_panel("Export is not available for this task yet",
                             f"This version exports {tasks} models; {project.task.replace('_', ' ')} "
                             "models come in a later version.")
            return
        self.form.set_best_words(best_checkpoint_words(project.task))
        self.form.task = project.task
        self.form.set_formats(self.controller.formats())
        self.reload_list()

    def reload_list(self) -> None:
        ctl = self.controller
        if ctl is None or not ctl.exportable:
            return
        try:
            exps = ctl.experiments()
        except StudioError as exc:
            self._show_panel("Export", str(exc))
            return
        if not exps:
            self.experiment = None
            self._show_panel("Export needs a trained model",
                             "Train an experiment on the Training page first: once it has saved a checkpoint, it "
                             "appears here to be exported.", "Go to the Training page", "training")
            return
        self.stack.setCurrentWidget(self.main)
        self.experiments.set_experiments(exps, {e.id: ctl.headline(e.id) for e in exps})
        if not self.experiments.selected_id():
            self.experiments.select(exps[0].id)
        elif self.experiment is None:
            self.select_experiment(self.experiments.selected_id())

    # ------------------------------------------------------------- experiment
    def select_experiment(self, exp_id: str, select_export: str | None = None) -> None:
        ctl = self.controller
        if ctl is None or not exp_id:
            return
        try:
            exp = ctl.service.get(exp_id)
        except StudioError as exc:
            self.form.show_status(f"<span style='color:#c0392b'>{exc}</span>")
            return
        changed = self.experiment is None or self.experiment.id != exp.id
        self.experiment = exp
        self.form.set_checkpoints(ctl.checkpoints(exp.id))
        job = self.jobs.job_for(exp.id, "export")
        self.form.set_running(job is not None)
        if changed:
            self.form.show_status("")
            if job is None and (others := ctl.running(exp.id)):
                self.form.show_status(f"An export of this experiment is running elsewhere ({others[0]}); it "
                                      "appears below when it ends.")
        self.history.set_records(ctl.exports(exp.id), select=select_export)
        self._form_changed()

    def _form_changed(self) -> None:
        if self.controller is None or self.experiment is None:
            return
        why = self.controller.problem(self.experiment, self.form.settings())
        if why is None and not self.ctx.workspace.writable:
            why = "This workspace is open read-only (another AI Studio window holds it)."
        self.form.block(why)
        if why:
            self.form.show_status(f"<span style='color:#b35900'>{why}</span>")
        warning = None if why else self.controller.warning(self.experiment, self.form.settings())
        if warning:
            self.form.show_status(f"<span style='color:#b35900'>{warning}</span>")
        elif getattr(self, "_size_warning", None) and not why:
            self.form.show_status("")  # the warning no longer applies (another format or checkpoint)
        self._size_warning = warning

    def _export_selected(self, export_id: str) -> None:
        rec = self.history.selected()
        if rec is None or self.controller is None or self.experiment is None:
            self.details.show_record(None)
            return
        self.details.show_record(rec, self.controller.snippet_text(self.experiment.id, rec),
                                 self.controller.folder(self.experiment.id, rec))

    # ------------------------------------------------------------------ export
    def export(self):
        """Start ``worker export`` for the selected experiment; returns the job (or None)."""
        ctl, exp = self.controller, self.experiment
        if ctl is None or exp is None or not self.form.export_button.isEnabled():
            return None
        s = self.form.settings()
        if (why := ctl.problem(exp, s)) is not None:
            self.form.show_status(f"<span style='color:#c0392b'>{why}</span>")
            return None
        export_id = ctl.new_id(s)
        try:
            job = self.jobs.start_worker(self.ctx.workspace, "export", ctl.worker_args(exp, s, export_id),
                                         ctl.job_folder(exp.id, export_id), experiment_id=exp.id,
                                         name=f"Export {exp.name}", project_id=ctl.project.id)
        except (RuntimeError, StudioError, OSError) as exc:
            self.form.show_status(f"<span style='color:#c0392b'>Could not start the export: {exc}</span>")
            return None
        self._pending[exp.id] = export_id
        self.form.set_running(True)
        self.form.show_status(f"Exporting the {s.checkpoint} checkpoint to {self.form.format.currentText()} "
                              f"{s.precision.upper()}…")
        job.progress.connect(lambda data, j=job: self._job_progress(j, data))
        return job

    def _job_progress(self, job, data: dict) -> None:
        if self.experiment is None or job.experiment_id != self.experiment.id:
            return
        self.form.show_progress(int(data.get("step") or 0), int(data.get("total") or 0),
                                str(data.get("message") or ""))

    def cancel(self) -> None:
        if self.experiment is not None and (job := self.jobs.job_for(self.experiment.id, "export")) is not None:
            job.stop()
            self.form.progress_text.setText("stopping…")

    def _job_finished(self, job) -> None:
        if job.kind != "export" or self.controller is None:
            return
        export_id = self._pending.pop(job.experiment_id, None)
        self.reload_list()
        if self.experiment is None or job.experiment_id != self.experiment.id:
            return
        self.form.set_running(False)
        if job.state == "completed":
            self.form.show_status("<span style='color:#2ca02c'>Exported and validated: ready to use.</span>")
        elif job.state == "stopped":
            self.form.show_status("Cancelled; nothing of that export was kept.")
        else:
            hint = f"<br>{job.hint}" if job.hint else ""
            self.form.show_status(f"<span style='color:#c0392b'>{job.error or 'The export failed.'}</span>{hint}")
        self.select_experiment(self.experiment.id, select_export=export_id)

    # ----------------------------------------------------------- the selected
    def copy_snippet(self) -> str:
        return self.details.copy_snippet()

    def open_folder(self) -> None:
        rec = self.history.selected()
        if rec is not None and self.controller is not None and self.experiment is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.controller.folder(self.experiment.id, rec))))

    def _ask_save_path(self, suggested: str, suffix: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self, "Save the exported model as", suggested,
                                              f"Model (*{suffix});;All files (*)")
        return path

    def save_as(self) -> list[Path]:
        rec = self.history.selected()
        ctl, exp = self.controller, self.experiment
        if rec is None or ctl is None or exp is None or not rec.ready:
            return []
        suffix = Path(rec.file).suffix
        name = f"{exp.name}-{rec.format}-{rec.precision}{suffix}".replace(" ", "_")
        target = self.save_dialog(str(Path.home() / name), suffix)
        if not target:
            return []
        try:
            written = ctl.save_as(exp.id, rec, Path(target))
        except StudioError as exc:
            QMessageBox.warning(self, "Save the exported model", str(exc))
            return []
        self.form.show_status("Saved " + ", ".join(str(p) for p in written))
        return written

    def delete_selected(self, confirm: bool = True) -> bool:
        rec = self.history.selected()
        ctl, exp = self.controller, self.experiment
        if rec is None or ctl is None or exp is None:
            return False
        if confirm and QMessageBox.question(
                self, "Delete export", f"Delete the {rec.title} export of '{exp.name}' and its files? The "
                "checkpoint stays; you can export again.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No) != QMessageBox.StandardButton.Yes:
            return False
        try:
            ctl.delete(exp.id, rec.id)
        except (StudioError, OSError) as exc:
            QMessageBox.warning(self, "Delete export", str(exc))
            return False
        self.reload_list()
        self.select_experiment(exp.id)
        return True

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(1300, 850)
