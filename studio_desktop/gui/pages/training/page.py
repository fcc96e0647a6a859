"""The Training page: experiments (left), settings (centre), results (right).

It never trains in the GUI process: Start creates the experiment (``ExperimentService``) and
asks the job manager to run ``worker train`` detached; the page then follows the job's
signals. On project change it reconciles dead runs and re-attaches to live ones, so a
restarted app picks up a training that kept running in the background.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ....core.errors import StudioError
from ....core.procs import request_stop
from ....tasks import training_unavailable
from ..placeholder import MessagePanel
from .augment_editor import AugmentationEditor
from .config_form import ConfigForm
from .controller import TrainingController
from .experiment_list import ExperimentPanel
from .preview import AugmentPreview
from .results import ResultsPanel
from .weights_panel import WeightsAdvisor


class TrainingPage(QWidget):
    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        if ctx.jobs is None:  # page used on its own (tests): it still needs a job manager
            from ...jobs import JobManager

            ctx.jobs = JobManager(parent=self)
        self.jobs = ctx.jobs
        self.controller: TrainingController | None = None
        self.validation = None

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.stack = QStackedWidget()
        lay.addWidget(self.stack)
        self.panel = MessagePanel("Training", "")
        self.panel.button.clicked.connect(self._panel_action)
        self._panel_target = "project"
        self.stack.addWidget(self.panel)
        self.main = self._build_main()
        self.stack.addWidget(self.main)
        #: pretrained weights: the state line, the pretrained setting, the check before a run
        self.weights = WeightsAdvisor(self)

        self._list_timer = QTimer(self)  # coalesces list refreshes while jobs report
        self._list_timer.setSingleShot(True)
        self._list_timer.setInterval(1000)
        self._list_timer.timeout.connect(self.reload_list)
        self._selection_timer = QTimer(self)
        self._selection_timer.setSingleShot(True)
        self._selection_timer.setInterval(60)
        self._selection_timer.timeout.connect(lambda: self._selection_changed(self.experiments.selected_ids()))
        self.jobs.jobsChanged.connect(self._schedule_list)
        self.jobs.jobFinished.connect(self._job_finished)
        ctx.projectChanged.connect(self.set_project)
        ctx.experimentsChanged.connect(self.reload_list)
        ctx.splitsChanged.connect(self._splits_changed)
        self.set_project(ctx.project)

    # ------------------------------------------------------------------ build
    def _build_main(self) -> QWidget:
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.experiments = ExperimentPanel()
        self.experiments.setMinimumWidth(260)
        splitter.addWidget(self.experiments)

        centre = QWidget()
        c = QVBoxLayout(centre)
        c.setContentsMargins(4, 0, 4, 0)
        self.tabs = QTabWidget()
        self.form = ConfigForm()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        self.tabs.addTab(scroll, "Settings")
        aug_tab = QWidget()
        a = QVBoxLayout(aug_tab)
        self.augment = AugmentationEditor()
        self.preview = AugmentPreview()
        a.addWidget(self.augment)
        a.addWidget(self.preview)
        a.addStretch(1)
        self.tabs.addTab(aug_tab, "Augmentations")
        self.tabs.setTabToolTip(0, "Model and hyper-parameters, each explained under it")
        self.tabs.setTabToolTip(1, "Random changes applied to training images, with a live preview")
        c.addWidget(self.tabs, 1)
        self.start_error = QLabel()
        self.start_error.setWordWrap(True)
        self.start_error.setStyleSheet("color: #c0392b;")
        c.addWidget(self.start_error)
        row = QHBoxLayout()
        row.addStretch(1)
        self.start_button = QPushButton("Start training")
        self.start_button.setToolTip("Create an experiment with these settings and train it in the "
                                     "background (Ctrl+Enter). You can keep working meanwhile.")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        row.addWidget(self.start_button)
        c.addLayout(row)
        splitter.addWidget(centre)

        self.results = ResultsPanel()
        splitter.addWidget(self.results)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 4)
        splitter.setSizes([300, 420, 560])

        self.experiments.selectionChanged.connect(self._selection_clicked)
        self.experiments.newRequested.connect(self.new_experiment)
        self.experiments.duplicateRequested.connect(self.duplicate_selected)
        self.experiments.deleteRequested.connect(lambda: self.delete_selected())
        self.experiments.resumeRequested.connect(lambda: self.resume_selected())
        self.experiments.stopRequested.connect(self.stop_selected)
        self.experiments.notesEdited.connect(self._save_notes)
        self.form.changed.connect(self._settings_changed)
        self.augment.changed.connect(self._augmentations_changed)

        ctx_children = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            sc = QShortcut(QKeySequence(keys), self)
            sc.setContext(ctx_children)
            sc.activated.connect(self.start)
        return splitter

    # Ctrl+N means "new experiment" while the focus is on this page, although the main window
    # binds it to "new project": accepting the ShortcutOverride makes Qt deliver the key here
    # instead of reporting an ambiguous shortcut.
    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and self._is_new_key(event):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._is_new_key(event):
            self.new_experiment()
            event.accept()
            return
        super().keyPressEvent(event)

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt API
        # the window closing or another page raised: save notes typed in the last moments
        self.experiments.flush_notes()
        super().hideEvent(event)

    @staticmethod
    def _is_new_key(event) -> bool:
        return (event.key() == Qt.Key.Key_N
                and event.modifiers() == Qt.KeyboardModifier.ControlModifier)

    # ---------------------------------------------------------------- project
    def _panel_action(self) -> None:
        self.ctx.showPageRequested.emit(self._panel_target)

    def _show_panel(self, title: str, text: str, action: str, target: str) -> None:
        self._panel_target = target
        self.panel.set_message(title, text, action)
        self.stack.setCurrentWidget(self.panel)

    def set_project(self, project) -> None:
        self.preview.cancel()
        self.results.detach_job()
        if project is None:
            self.controller = None
            self._show_panel("Training", "Training teaches a model from your labelled images: pick a model "
                             "and settings, start, and watch the curves. Open or create a project first.",
                             "Go to the Project page", "project")
            return
        try:
            self.controller = TrainingController(self.ctx.workspace, project)
        except StudioError as exc:
            self.controller = None
            self._show_panel("Training", str(exc), "Go to the Project page", "project")
            return
        self._reconcile_and_reattach()
        if (why := training_unavailable(project.task)) is not None:
            self._show_panel("Training is not available for this task yet", why[0].upper() + why[1:] + ".",
                             "Go to the Split page", "split")
            return
        splits = self.controller.splits()
        if not splits:
            self._show_panel("Training needs a split",
                             "Training learns from the training subset and measures itself on the validation "
                             "subset, so the images must first be divided into subsets. Create a split on "
                             "the Split page, then come back here.", "Go to the Split page", "split")
            return
        self.stack.setCurrentWidget(self.main)
        self.form.set_models(self.controller.models())
        self.form.set_splits(splits)
        self.form.set_task(project.task, self.controller.output_names(), project.target_units)
        self.augment.set_task(project.task)
        self.results.curves.set_monitor(f"val_{self.controller.task.primary_metric}")
        self.reload_list()
        if not self.experiments.selected_ids():
            self.new_experiment()

    def _splits_changed(self) -> None:
        """A split was saved or deleted elsewhere: refresh the choice, keep the settings being edited."""
        if self.controller is None or self.stack.currentWidget() is not self.main:
            self.set_project(self.ctx.project)
            return
        splits = self.controller.splits()
        if not splits:
            self.set_project(self.ctx.project)
            return
        self.form.set_splits(splits)
        self._settings_changed()

    def _reconcile_and_reattach(self) -> None:
        ctl = self.controller
        try:
            if self.ctx.workspace.writable:
                ctl.service.reconcile()
            for exp in ctl.experiments():
                if exp.status == "running":
                    self.jobs.reattach(exp, ws=self.ctx.workspace, folder=ctl.service.folder(exp.id))
        except StudioError as exc:
            self.start_error.setText(str(exc))

    # ------------------------------------------------------------ experiments
    def _schedule_list(self) -> None:
        if not self._list_timer.isActive():
            self._list_timer.start()

    def reload_list(self) -> None:
        if self.controller is None:
            return
        self.experiments.set_experiments(self.controller.experiments())
        self._update_actions()

    def _job_finished(self, job=None) -> None:
        # a worker that was killed or crashed left "running" in experiment.json: mark it
        # interrupted now (resumable), not only at the next start-up
        if self.controller is not None and self.ctx.workspace.writable:
            try:
                self.controller.service.reconcile()
            except StudioError:
                pass
        self.reload_list()
        self.ctx.experimentsChanged.emit()
        self._selection_changed(self.experiments.selected_ids())

    def selected(self):
        ids = self.experiments.selected_ids()
        if len(ids) != 1:
            return None
        row = self.experiments.model.row_of(ids[0])
        return self.experiments.model.experiments[row] if row >= 0 else None

    def _update_actions(self) -> None:
        exp = self.selected()
        running = bool(exp and (exp.status == "running" or self.jobs.job_for(exp.id)))
        self.experiments.set_actions(selected=self.experiments.selected_ids(), running=running,
                                     resumable=bool(exp and self.controller and self.controller.resumable(exp)))

    def _selection_clicked(self, ids: list[str]) -> None:
        """Buttons follow the selection at once; the heavier results view follows it after a
        short pause, so Shift+clicking through a list loads the curves once, not per row."""
        self._update_actions()
        self._selection_timer.start()

    def _selection_changed(self, ids: list[str]) -> None:
        self._selection_timer.stop()
        self._update_actions()
        if self.controller is None:
            return
        if not ids:
            self.results.show_nothing()
            return
        model = self.experiments.model
        exps = [model.experiments[model.row_of(i)] for i in ids if model.row_of(i) >= 0]
        if len(exps) > 1:
            runs = {e.name: self.controller.metrics(e.id) for e in exps}
            self.results.show_comparison(runs, f"val_{self.controller.task.primary_metric}")
            return
        exp = exps[0]
        job = self.jobs.job_for(exp.id)
        never_run = exp.status == "created" and job is None
        self.form.set_config(exp.config, exp.name if never_run else "")
        self.augment.set_steps(exp.config.augmentations)
        self._settings_changed()
        self.results.show_experiment(exp, self.controller.metrics(exp.id),
                                     lambda i=exp.id: self.controller.log_tail(i) if self.controller else [])
        if job is not None:
            self.results.attach_job(job)

    def new_experiment(self) -> None:
        if self.controller is None:
            return
        self.experiments.select([])
        self.form.set_config(self.controller.defaults())
        self.augment.set_steps(self.controller.defaults().augmentations)
        self._settings_changed()
        self._augmentations_changed()
        self.results.show_nothing("A new experiment: adjust the settings, then Start training (Ctrl+Enter).")

    def duplicate_selected(self) -> None:
        exp = self.selected()
        if exp is None or self.controller is None:
            return
        try:
            copy = self.controller.service.duplicate(exp.id)
        except StudioError as exc:
            QMessageBox.warning(self, "Duplicate experiment", str(exc))
            return
        self.reload_list()
        self.experiments.select([copy.id])
        self.ctx.experimentsChanged.emit()

    def delete_selected(self, confirm: bool = True) -> bool:
        exp = self.selected()
        if exp is None or self.controller is None:
            return False
        if confirm and QMessageBox.question(
                self, "Delete experiment",
                f"Delete experiment '{exp.name}' with its checkpoints, curves and notes? This cannot be undone.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No) != QMessageBox.StandardButton.Yes:
            return False
        try:
            self.controller.service.delete(exp.id)
        except StudioError as exc:
            QMessageBox.warning(self, "Delete experiment", str(exc))
            return False
        self.reload_list()
        self.ctx.experimentsChanged.emit()
        return True

    def resume_selected(self, epochs: int | None = None, ask: bool = True):
        exp = self.selected()
        if exp is None or self.controller is None:
            return None
        if epochs is None and ask:
            value, ok = QInputDialog.getInt(
                self, "Resume training",
                f"'{exp.name}' has done {exp.epochs_done} epoch(s). Train up to how many epochs in total?",
                max(exp.config.epochs, exp.epochs_done + 1), 1, 10000)
            if not ok:
                return None
            epochs = value
        return self._run(exp, resume=True, epochs=epochs if epochs != exp.config.epochs else None)

    def stop_selected(self) -> None:
        exp = self.selected()
        if exp is None or self.controller is None:
            return
        job = self.jobs.job_for(exp.id)
        if job is not None:
            job.stop()
        else:  # started by another window or the CLI: the control file works all the same
            request_stop(self.controller.service.folder(exp.id))
        self._update_actions()

    def _save_notes(self, exp_id: str, text: str) -> None:
        if self.controller is None:
            return
        try:
            self.controller.service.set_notes(exp_id, text)
        except StudioError as exc:
            self.start_error.setText(f"Notes not saved: {exc}")

    # --------------------------------------------------------------- settings
    def config_data(self) -> dict:
        data = self.form.values()
        data["augmentations"] = self.augment.steps()
        return data

    def _settings_changed(self) -> None:
        if self.controller is None:
            return
        if hasattr(self, "weights"):
            self.weights.refresh()
        self.validation = self.controller.validate(self.config_data())
        self.form.show_errors(self.validation.errors)
        problems = []
        if self.validation.errors:
            problems.append("Fix the settings marked in red to start: "
                            + ", ".join(self.validation.errors))
        if not self.ctx.workspace.writable:
            problems.append("This workspace is open read-only (another AI Studio window holds it).")
        self.start_error.setText(" ".join(problems))
        self.start_button.setEnabled(not problems)

    def _augmentations_changed(self) -> None:
        self._settings_changed()
        if self.controller is None or self.validation is None:
            return
        if "augmentations" in self.validation.errors:
            return
        data = self.config_data()
        for key in ("split_id", "input_size", "model"):
            if key in self.validation.errors:
                data.pop(key, None)
        self.preview.request(self.ctx.workspace.root, self.controller.project.id, data)

    # ------------------------------------------------------------------ start
    def start(self):
        """Create the experiment from the form (or start the selected never-run one) and train it."""
        self._settings_changed()
        if self.controller is None or not self.start_button.isEnabled() or not self.validation.ok:
            return None
        if not self.weights.check_before_start(self.validation.config):
            return None  # downloading first (the run starts afterwards), importing, or cancelled
        self._settings_changed()  # the choice may have changed the form (train from scratch)
        if not self.validation.ok:
            return None
        svc = self.controller.service
        try:
            exp = self.selected()
            if exp is not None and exp.status == "created" and self.jobs.job_for(exp.id) is None:
                exp = svc.update(exp.id, config=self.validation.config.model_dump())
                new_name = self.form.experiment_name()
                if new_name and new_name != exp.name:
                    exp = svc.rename(exp.id, new_name)
            else:
                exp = svc.create(self.validation.config, self.form.experiment_name())
        except StudioError as exc:
            self.start_error.setText(str(exc))
            return None
        return self._run(exp, resume=False, epochs=None)

    def _run(self, exp, *, resume: bool, epochs: int | None):
        try:
            job = self.jobs.start_training(self.ctx.workspace, self.controller.project, exp,
                                           resume=resume, epochs=epochs)
        except (RuntimeError, StudioError) as exc:
            self.start_error.setText(f"Could not start training: {exc}")
            return None
        self.start_error.clear()
        self.reload_list()
        self.ctx.experimentsChanged.emit()
        self.experiments.select([exp.id])
        self._selection_changed([exp.id])
        return job

    def shutdown(self) -> None:
        """Stop helper processes owned by the page (the preview); jobs are the manager's."""
        self.experiments.flush_notes()
        self.preview.shutdown()
