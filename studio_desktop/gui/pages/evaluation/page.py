"""The Evaluation page: experiments on the left; configuration, metrics, images and "Try it" on
the right, each a section that folds away.

It only assembles. The numbers come from the task's results object (loaded off the GUI thread),
the Metrics section is the task's result view (``views.VIEWS``), evaluation and prediction run in
worker processes started through the job manager, and the report is written by ``gui.report``.
Result views and the compare panel ask the Images section to show images; none keeps its own.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ....core.datasets import DatasetStore
from ....core.errors import StudioError
from ...widgets.collapsible import CollapsibleSection
from ...widgets.curves import best_checkpoint_words
from ..dataset.background import BackgroundCall
from ..placeholder import MessagePanel
from .compare import ComparePanel
from .configure import ConfigurationSection
from .controller import SUBSET_WORDS, EvaluationController
from .experiments import EvaluationExperimentList
from .images import ImagesSection
from .try_it import TryItPanel
from .views import VIEWS, report_module, view_for


class EvaluationPage(QWidget):
    #: an experiment's evaluation is on screen (its results object), or None
    resultsShown = Signal(object)
    #: a report was written (its HTML path)
    reportWritten = Signal(str)

    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        if ctx.jobs is None:  # page used on its own (tests): it still needs a job manager
            from ...jobs import JobManager

            ctx.jobs = JobManager(parent=self)
        self.jobs = ctx.jobs
        self.controller: EvaluationController | None = None
        self.experiment = None
        self.results = None
        self.view = None
        self.open_reports = True  # tests turn this off: no browser windows
        self._dataset: DatasetStore | None = None
        #: what the last job of the shown experiment ended with (kept under the evaluation's status)
        self._note = ""

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.stack = QStackedWidget()
        lay.addWidget(self.stack)
        self.panel = MessagePanel("Evaluation", "")
        self.panel.button.clicked.connect(lambda: self.ctx.showPageRequested.emit(self._panel_target))
        self._panel_target = "project"
        self.stack.addWidget(self.panel)
        self.main = self._build_main()
        self.stack.addWidget(self.main)
        self._loader = BackgroundCall(self)
        self._loader.done.connect(self._results_loaded)
        self._loader.failed.connect(self._results_failed)
        self._report = BackgroundCall(self)
        self._report.done.connect(self._report_ready)
        self._report.failed.connect(self._report_failed)
        self._report_open = True
        self.jobs.jobFinished.connect(self._job_finished)
        ctx.projectChanged.connect(self.set_project)
        ctx.experimentsChanged.connect(self.reload_list)
        self.set_project(ctx.project)

    # ------------------------------------------------------------------ build
    def _build_main(self) -> QWidget:
        split = QSplitter(Qt.Orientation.Horizontal)
        self.experiments = EvaluationExperimentList()
        self.experiments.setMinimumWidth(230)
        self.experiments.selectionChanged.connect(self.select_experiment)
        split.addWidget(self.experiments)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 0, 0, 0)
        rl.setSpacing(4)
        self.config = ConfigurationSection()
        self.config.evaluateRequested.connect(self.evaluate)
        self.config.stopRequested.connect(self.stop)
        self.config.resetRequested.connect(lambda: self.reset())
        self.config.reportRequested.connect(lambda: self.write_report())
        self.config_section = CollapsibleSection("Configuration", self.config,
                                                 tooltip="Checkpoint, images, batch size, device; Evaluate, Reset, Report")
        rl.addWidget(self.config_section, 0)

        self.metrics_stack = QStackedWidget()
        self.metrics_message = QLabel("")
        self.metrics_message.setWordWrap(True)
        self.metrics_message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.metrics_stack.addWidget(self.metrics_message)
        self.metrics_stack.setMinimumHeight(300)
        self.metrics_section = CollapsibleSection("Metrics", self.metrics_stack,
                                                  tooltip="The numbers at the current operating point, with 95 % "
                                                          "intervals; click the charts to filter the images")
        rl.addWidget(self.metrics_section, 5)

        self.images = ImagesSection(self.image_path)
        self.images.countsChanged.connect(self._images_counted)
        self.images.setMinimumHeight(260)
        self.images_section = CollapsibleSection("Images", self.images,
                                                 tooltip="Every evaluated image, green right, red wrong; filter, "
                                                         "sort and click for the class probabilities")
        rl.addWidget(self.images_section, 6)

        self.try_it = TryItPanel()
        self.try_it.start_job = self._start_predict
        self.try_section = CollapsibleSection("Try it", self.try_it, expanded=False,
                                              tooltip="Run the model on new images you drop or choose")
        self.try_section.set_summary("drop or choose images to see what the model predicts")
        rl.addWidget(self.try_section, 3)
        for section in (self.config_section, self.metrics_section, self.images_section, self.try_section):
            section.toggled.connect(lambda _on, s=section: self._section_toggled(s))

        self.compare = ComparePanel(self._load_other)
        self.compare.filterRequested.connect(self._filter_requested)

        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 5)
        split.setSizes([260, 1100])

        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for keys, slot in (("Ctrl+Return", self.evaluate), ("Ctrl+Enter", self.evaluate),
                           ("Ctrl+Shift+Delete", lambda: self.reset()), ("Ctrl+R", lambda: self.write_report()),
                           ("Ctrl+S", lambda: self.view.save_operating_point() if self.view else None)):
            QShortcut(QKeySequence(keys), split, context=context).activated.connect(slot)
        return split

    def _section_toggled(self, section: CollapsibleSection) -> None:
        """A folded section gives its stretch to the others (the layout keeps the order)."""
        lay = section.parentWidget().layout()
        stretch = {self.config_section: 0, self.metrics_section: 5, self.images_section: 6, self.try_section: 3}
        lay.setStretchFactor(section, stretch[section] if section.expanded else 0)

    # ---------------------------------------------------------------- project
    def _show_panel(self, title: str, text: str, action: str | None = None, target: str = "project") -> None:
        self._panel_target = target
        self.panel.set_message(title, text, action)
        self.stack.setCurrentWidget(self.panel)

    def set_project(self, project) -> None:
        self._clear_results()
        self.experiment = None
        if project is None:
            self.controller = None
            self._show_panel("Evaluation", "Evaluation measures a trained model on images it never learnt from: "
                             "metrics with their uncertainty, where it goes wrong, and which labels look wrong. "
                             "Open or create a project first.", "Go to the Project page", "project")
            return
        if project.task not in VIEWS:
            self.controller = None
            self._show_panel("Evaluation is not available for this task yet",
                             f"This version evaluates {' and '.join(t.replace('_', ' ') for t in VIEWS)} models; "
                             f"{project.task.replace('_', ' ')} "
                             "results come in a later version.")
            return
        self.controller = EvaluationController(self.ctx.workspace, project)
        self._dataset = DatasetStore(self.ctx.workspace, project.id)
        self.config.set_best_words(best_checkpoint_words(project.task))
        if self.view is None or getattr(self.view, "task", None) != project.task:
            self._install_view(project.task)
        self.reload_list()

    def _install_view(self, task: str) -> None:
        if self.view is not None:
            self.compare.setParent(None)  # the page's panel outlives the old view (deleted with it otherwise)
            self.images.filterChanged.disconnect(self.view.show_selection)
            self.images.imageSelected.disconnect(self.view.show_image)
            self.metrics_stack.removeWidget(self.view)
            self.view.deleteLater()
        self.view = view_for(task)
        self.view.task = task
        self.view.filterRequested.connect(self._filter_requested)
        self.view.imageRequested.connect(self._image_requested)
        self.view.operatingPointChanged.connect(self._operating_point_changed)
        self.view.subsetChanged.connect(self.compare.set_subset)
        self.view.refreshed.connect(self._update_summaries)
        self.images.filterChanged.connect(self.view.show_selection)
        self.images.imageSelected.connect(self.view.show_image)
        if self.view.compares:
            self.view.add_tab(self.compare, "Compare", "This experiment against another evaluated on the same "
                                                       "images: metrics side by side, a paired test, and the "
                                                       "images they disagree on")
        self.metrics_section.button.setToolTip(self.view.section_help)
        self.metrics_stack.addWidget(self.view)

    def reload_list(self) -> None:
        ctl = self.controller
        if ctl is None:
            return
        try:
            exps = ctl.experiments()
        except StudioError as exc:
            self._show_panel("Evaluation", str(exc))
            return
        if not exps:
            self.experiment = None
            self._clear_results()
            self._show_panel("Evaluation needs a trained model",
                             "Train an experiment on the Training page first: once it has saved a checkpoint, it "
                             "appears here to be evaluated on its validation and test images.",
                             "Go to the Training page", "training")
            return
        self.stack.setCurrentWidget(self.main)
        self.experiments.set_experiments(exps, {e.id: ctl.headline(e.id) for e in exps})
        if not self.experiments.selected_id():
            self.experiments.select(exps[0].id)
        elif self.experiment is None:
            self.select_experiment(self.experiments.selected_id())

    # ------------------------------------------------------------- experiment
    def select_experiment(self, exp_id: str) -> None:
        ctl = self.controller
        if ctl is None or not exp_id:
            return
        try:
            exp = ctl.service.get(exp_id)
        except StudioError as exc:
            self.config.show_status(f"<span style='color:#c0392b'>{exc}</span>")
            return
        if self.experiment is None or self.experiment.id != exp.id:
            self._note = ""
        self.experiment = exp
        evaluated = ctl.evaluated(exp.id)
        previous = None
        if evaluated:
            try:
                info = ctl.store(exp.id).info()
                previous = {"checkpoint": info.checkpoint.get("which"), "subsets": info.subsets,
                            "batch_size": info.batch_size}
            except StudioError:
                previous = None
        self.config.set_experiment(ctl.checkpoints(exp.id), ctl.subset_sizes(exp), exp.config.batch_size, previous)
        self.config.set_state(evaluated=evaluated, writable=self.ctx.workspace.writable)
        self.try_it.set_experiment(ctl, exp)
        self.compare.set_candidates(ctl.comparable(exp.id))
        job = self.jobs.job_for(exp.id, "evaluate")
        self.config.set_running(job is not None)
        if job is not None:
            self._follow(job)
        self._clear_results()
        if evaluated:
            self._show_metrics_message("Loading the evaluation…")
            self._loader.start(lambda c=ctl, i=exp.id: c.load(i))
        else:
            self._show_metrics_message(f"'{exp.name}' has not been evaluated yet. Choose the checkpoint and the "
                                       "images above, then press Evaluate (Ctrl+Enter).")
            self.config.show_status(self._note)

    def _show_metrics_message(self, text: str) -> None:
        self.metrics_message.setText(text)
        self.metrics_stack.setCurrentWidget(self.metrics_message)
        self.metrics_section.set_summary("")

    def _clear_results(self) -> None:
        self._loader.cancel()
        self.results = None
        self.images.set_results(None)
        self.images_section.set_summary("")
        self.config.set_state(evaluated=False, writable=self.ctx.workspace.writable)

    def _results_loaded(self, results) -> None:
        if self.experiment is None or results.info.experiment_id != self.experiment.id:
            return
        self.results = results
        # the images first, the metrics on the next event-loop turn: two short stalls, not one long
        self.images_section.button.setToolTip(results.section_help)
        self.images.set_results(results)
        self.config.set_state(evaluated=True, writable=self.ctx.workspace.writable)
        self._show_evaluation_status()
        QTimer.singleShot(0, self, lambda r=results: self._show_metrics(r))

    def _show_metrics(self, results) -> None:
        if results is not self.results:
            return
        self.view.set_writable(self.ctx.workspace.writable)
        self.view.set_results(results)
        self.metrics_stack.setCurrentWidget(self.view)
        self.compare.set_results(results, self.experiment.name, self.view.current_subset())
        self._update_summaries()
        self.resultsShown.emit(results)

    def _results_failed(self, message: str) -> None:
        self._show_metrics_message(f"The evaluation could not be read: {message}. Evaluate again, or Reset it.")
        self.config.set_state(evaluated=True, writable=self.ctx.workspace.writable)

    def _show_evaluation_status(self) -> None:
        r = self.results
        info = r.info
        ck = info.checkpoint
        epoch = f" (epoch {ck.get('epoch')})" if ck.get("epoch") else ""
        images = ", ".join(f"{n} {SUBSET_WORDS.get(s, s)}" for s, n in info.images.items())
        skipped = sum(info.skipped.values())
        skipped_text = (f" · <span style='color:#b35900'>{skipped} image(s) left out: unlabelled or of a class "
                        "added after training</span>") if skipped else ""
        when = (info.ended or info.started or "")[:16].replace("T", " ")
        speed = info.timings.get("images_per_s")
        note = f"<br>{self._note}" if self._note else ""
        self.config.show_status(f"Evaluated the <b>{ck.get('which', '?')}</b> checkpoint{epoch} on {images} images, "
                                f"{info.device}{f', {speed:g} images/s' if speed else ''}, {when}{skipped_text}{note}")

    def _update_summaries(self) -> None:
        if self.results is None:
            return
        self.metrics_section.set_summary(self.view.section_summary())

    def _images_counted(self, shown: int, total: int) -> None:
        r = self.results
        if r is None:
            self.images_section.set_summary("")
            return
        self.images_section.set_summary(f"{shown:,} of {total:,} shown · {r.grid_summary()}")

    # ----------------------------------------------------------------- filter
    def _filter_requested(self, changes: dict) -> None:
        self.images_section.set_expanded(True)
        self.images.apply(**changes)

    def _image_requested(self, image_id: str, subset: str) -> None:
        """A plot's point was clicked: that image in the grid and the detail."""
        self.images_section.set_expanded(True)
        self.images.select_image(image_id, subset)

    def _operating_point_changed(self) -> None:
        self.images.decisions_changed()
        self.compare.update_comparison()

    def image_path(self, results, image_id: str, thumbnail: bool) -> str:
        """Thumbnail (or the image when it has none) of an evaluated image."""
        if self._dataset is None:
            return ""
        if thumbnail:
            thumb = self._dataset.thumbnail_path(image_id)
            if thumb.is_file():
                return str(thumb)
        return str(self._dataset.path_of(results.file_of(image_id)))

    def _load_other(self, exp_id: str):
        return self.controller.load(exp_id)

    # -------------------------------------------------------------- evaluate
    def evaluate(self):
        """Start ``worker evaluate`` for the selected experiment; returns the job (or None)."""
        ctl, exp = self.controller, self.experiment
        if ctl is None or exp is None or not self.config.evaluate_button.isEnabled():
            return None
        s = self.config.settings()
        args = ctl.evaluate_args(exp, s["checkpoint"], s["subsets"], s["batch_size"], s["device"])
        try:
            job = self.jobs.start_worker(self.ctx.workspace, "evaluate", args, ctl.job_folder(exp.id),
                                         experiment_id=exp.id, name=f"Evaluate {exp.name}",
                                         project_id=ctl.project.id)
        except (RuntimeError, StudioError) as exc:
            self.config.show_status(f"<span style='color:#c0392b'>Could not start the evaluation: {exc}</span>")
            return None
        self.config.set_running(True)
        self.config.show_status(f"Evaluating the {s['checkpoint']} checkpoint on "
                                f"{', '.join(SUBSET_WORDS[x] for x in s['subsets'])} images…")
        self._follow(job)
        return job

    def _follow(self, job) -> None:
        job.progress.connect(lambda data, j=job: self._job_progress(j, data))

    def _job_progress(self, job, data: dict) -> None:
        if self.experiment is None or job.experiment_id != self.experiment.id:
            return
        self.config.show_progress(int(data.get("step") or 0), int(data.get("total") or 0),
                                  str(data.get("message") or ""), data.get("eta_s"))

    def stop(self) -> None:
        if self.experiment is not None and (job := self.jobs.job_for(self.experiment.id, "evaluate")) is not None:
            job.stop()
            self.config.progress_text.setText("stopping after this batch…")

    def _job_finished(self, job) -> None:
        if job.kind != "evaluate" or self.controller is None:
            return
        self.reload_list()
        if self.experiment is None or job.experiment_id != self.experiment.id:
            return
        self.config.set_running(False)
        if job.state == "failed":
            hint = f"<br>{job.hint}" if job.hint else ""
            self._note = f"<span style='color:#c0392b'>The evaluation failed: {job.error}</span>{hint}"
        elif job.state == "stopped":
            self._note = "Stopped; the previous evaluation (if any) is unchanged."
        else:
            self._note = ""
        self.select_experiment(self.experiment.id)
        if self._note:
            self.config.show_status(self._note)

    def _start_predict(self, args: list[str], folder):
        exp = self.experiment
        return self.jobs.start_worker(self.ctx.workspace, "predict", args, folder, experiment_id=exp.id,
                                      name=f"Try {exp.name}", project_id=self.controller.project.id)

    # ------------------------------------------------------------------ reset
    def reset(self, confirm: bool = True) -> bool:
        ctl, exp = self.controller, self.experiment
        if ctl is None or exp is None or not ctl.evaluated(exp.id) or not self.config.reset_button.isEnabled():
            return False
        if confirm and QMessageBox.question(
                self, "Reset evaluation",
                f"Delete the evaluation of '{exp.name}' with its saved operating point? The model and its "
                "checkpoints stay; you can evaluate again at any time.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No) != QMessageBox.StandardButton.Yes:
            return False
        try:
            ctl.reset(exp.id)
        except (StudioError, OSError) as exc:
            QMessageBox.warning(self, "Reset evaluation", str(exc))
            return False
        self.reload_list()
        self.select_experiment(exp.id)
        self.config.show_status("The evaluation was deleted.")
        return True

    # ----------------------------------------------------------------- report
    def write_report(self, open_it: bool | None = None) -> None:
        """Write the experiment's report (HTML + PDF) and open it; ``reportWritten`` says where.

        The numbers (every subset's bootstrap, a second or more for 10,000 images) are computed in
        a background thread first; drawing the plots and the PDF needs the GUI thread."""
        ctl, exp = self.controller, self.experiment
        if ctl is None or exp is None or self._report.busy:
            return
        self._report_open = open_it if open_it is not None else self.open_reports
        self.config.report_button.setEnabled(False)
        self.config.show_status("Writing the report…")
        results = self.results
        if results is None:
            self._report_ready((None, None, None))
            return
        module = report_module(ctl.project.task)
        self._report.start(lambda r=results, op=results.op: (r, op, module.subset_reports(r)))

    def _report_ready(self, payload) -> None:
        results, op, numbers = payload
        if results is not None and (results is not self.results or op is not results.op):
            self.write_report(self._report_open)  # the rule changed meanwhile: the report shows the new one
            return
        from ...report import write_report

        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            html, _pdf = write_report(self.ctx.workspace, self.controller.project, self.experiment,
                                      results=results, numbers=numbers)
        except (StudioError, OSError) as exc:
            self._report_failed(str(exc))
            return
        finally:
            QApplication.restoreOverrideCursor()
            self.config.report_button.setEnabled(not self.config.running)
        self.config.show_status(f"Report written: <a href='{html.as_uri()}'>{html}</a> (and report.pdf beside it)")
        self.config.status.setOpenExternalLinks(True)
        if self._report_open:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(html)))
        self.reportWritten.emit(str(html))

    def _report_failed(self, message: str) -> None:
        self.config.report_button.setEnabled(not self.config.running)
        self.config.show_status(f"<span style='color:#c0392b'>The report could not be written: {message}</span>")

    # ------------------------------------------------------------------ close
    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(1400, 900)

    def shutdown(self) -> None:
        self.images.shutdown()
        self.try_it.shutdown()
