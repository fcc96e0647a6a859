"""Try it: run the selected experiment's model on images the user drops or chooses.

Prediction runs in a ``worker predict`` process (never torch in the GUI) that decodes each image
exactly as evaluation does, applies the saved operating point, and writes ``predictions.json``
and ``predictions.csv`` into ``experiments/<id>/try/<time>/``. The panel shows every image with
its predicted class and probability (a regression: each target's value with its name and unit),
or the reason it could not be read.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from PySide6.QtCore import QAbstractListModel, QModelIndex, QRect, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QProgressBar,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QVBoxLayout,
    QWidget,
)

from ....core.evaluation.predictions import prediction_text
from ...widgets.thumbnails import ThumbnailLoader
from .controller import EvaluationController

IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.tif *.tiff *.webp);;All files (*)"
THUMB = QSize(96, 96)


def read_predictions(folder: Path) -> dict:
    """``predictions.json`` of a finished run (empty predictions when it is missing or torn)."""
    try:
        data = json.loads((folder / "predictions.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"predictions": []}
    return data if isinstance(data, dict) else {"predictions": []}


def units_of(data: dict) -> dict[str, str]:
    """Target units written with the predictions (``model.outputs``: name, unit)."""
    outputs = ((data.get("model") or {}).get("outputs") or []) if isinstance(data, dict) else []
    return {str(o.get("name")): str(o.get("unit") or "") for o in outputs if isinstance(o, dict) and o.get("unit")}


def caption_of(p: dict, units: dict[str, str] | None = None) -> str:
    """The text under a thumbnail: the class and its probability, or one line per predicted value
    with its target's name and unit (``prediction_text``)."""
    if not p.get("ok", True):
        return "cannot read"
    pred = p.get("prediction") or {}
    if "targets" in pred:
        return "\n".join(prediction_text({"ok": True, "prediction": {"targets": {n: v}}}, units)
                         for n, v in pred["targets"].items())
    name = pred.get("name", str(pred.get("label", "?")))
    conf = p.get("confidence")
    text = f"{name} {conf:.0%}" if isinstance(conf, (int, float)) else name
    return f"? {text}" if p.get("uncertain") else text


def tooltip_of(p: dict, units: dict[str, str] | None = None) -> str:
    """A thumbnail's tooltip: the file and its prediction (a classifier's five most probable classes)."""
    name = Path(str(p.get("file", ""))).name
    if not p.get("ok", True):
        return f"{name}\n{p.get('error', 'could not be read')}"
    if "targets" in (p.get("prediction") or {}):
        return f"{name}\n{caption_of(p, units)}"
    probs = p.get("probabilities") or {}
    top = sorted(probs.items(), key=lambda kv: -kv[1])[:5]
    lines = [f"{name}: {caption_of(p)}"] + [f"  {k}: {v:.1%}" for k, v in top]
    if p.get("uncertain"):
        lines.append("flagged uncertain by the operating point: check it yourself")
    return "\n".join(lines)


class TryView:
    """How the panel shows one task's predictions: this default writes a class (or values) under each
    thumbnail. A task that shows more (a detector's boxes) has its own view in :data:`TRY_VIEWS`
    with the same methods, so the panel never asks which task it shows."""

    thumb = THUMB

    def __init__(self, on_change=None):
        self.on_change = on_change

    def controls(self) -> list:
        """Extra settings shown beside the buttons."""
        return []

    def set_experiment(self, controller, experiment) -> None:
        pass

    def worker_args(self) -> list[str]:
        """Extra ``worker predict`` arguments from those settings."""
        return []

    def caption(self, p: dict, units: dict[str, str] | None = None) -> str:
        return caption_of(p, units)

    def tooltip(self, p: dict, units: dict[str, str] | None = None) -> str:
        return tooltip_of(p, units)

    def paint(self, painter: QPainter, target: QRect, p: dict) -> None:
        """Draw over the thumbnail (drawn in ``target``); nothing by default."""

    def status(self, items: list[dict], data: dict) -> str:
        return ""


#: task id -> "module:Class" under this package, for tasks whose predictions need more than a caption
TRY_VIEWS: dict[str, str] = {"object_detection": "try_detection:DetectionTryView",
                             "anomaly_detection": "try_anomaly:AnomalyTryView",
                             "semantic_segmentation": "try_segmentation:SegmentationTryView"}


def try_view_for(task: str | None, on_change=None) -> TryView:
    spec = TRY_VIEWS.get(task or "")
    if spec is None:
        return TryView(on_change)
    module = importlib.import_module(f"{__package__}.{spec.partition(':')[0]}")
    return getattr(module, spec.partition(":")[2])(on_change)


class PredictionModel(QAbstractListModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.items: list[dict] = []
        #: target name -> unit (regression predictions)
        self.units: dict[str, str] = {}
        #: how the current task's predictions read (caption, tooltip)
        self.view: TryView = TryView()

    def set_items(self, items: list[dict], units: dict[str, str] | None = None) -> None:
        self.beginResetModel()
        self.items = list(items)
        self.units = dict(units or {})
        self.endResetModel()

    def caption_lines(self) -> int:
        """Lines the longest caption needs (one per predicted target)."""
        return max([self.view.caption(p, self.units).count("\n") + 1 for p in self.items] or [1])

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.items)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        p = self.items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.view.caption(p, self.units)
        if role == Qt.ItemDataRole.UserRole:
            return p
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.view.tooltip(p, self.units)
        return None

    def refresh(self) -> None:
        """Captions and drawings changed (a view's setting moved)."""
        if self.items:
            self.dataChanged.emit(self.index(0), self.index(len(self.items) - 1))


class PredictionDelegate(QStyledItemDelegate):
    def __init__(self, loader: ThumbnailLoader, parent=None):
        super().__init__(parent)
        self.loader = loader
        self.view: TryView = TryView()
        self.lines = 1
        self.set_caption_lines(1)

    def set_caption_lines(self, lines: int) -> None:
        """Room for ``lines`` caption lines (a regression's targets, one per line); wider cells for
        values with units."""
        self.lines = max(1, lines)
        extra = 40 if lines > 1 else 0
        self.cell = QSize(self.loader.size.width() + 14 + extra, self.loader.size.height() + 12 + 18 * self.lines)

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 - Qt API
        return self.cell

    def paint(self, painter: QPainter, option, index) -> None:
        p = index.data(Qt.ItemDataRole.UserRole) or {}
        r: QRect = option.rect
        painter.save()
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(r, option.palette.highlight())
        ok = p.get("ok", True)
        color = QColor("#d62728") if not ok else QColor("#f0a30a") if p.get("uncertain") else QColor("#4a6fa5")
        left = r.x() + (r.width() - self.loader.size.width() - 6) // 2
        frame = QRect(left, r.y() + 3, self.loader.size.width() + 6, self.loader.size.height() + 6)
        painter.fillRect(frame, color)
        thumb = frame.adjusted(3, 3, -3, -3)
        path = str(p.get("file", ""))
        pm = self.loader.pixmap(path, path) if ok and path else None
        painter.fillRect(thumb, option.palette.base().color().darker(108))
        if pm is not None:
            target = QRect(thumb.x() + (thumb.width() - pm.width()) // 2, thumb.y() + (thumb.height() - pm.height()) // 2,
                           pm.width(), pm.height())
            painter.drawPixmap(target.topLeft(), pm)
            self.view.paint(painter, target, p)
        elif not ok:
            painter.setPen(QColor("#c0392b"))
            painter.drawText(thumb, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, "cannot read")
        painter.setPen(option.palette.text().color() if ok else QColor("#c0392b"))
        for i, line in enumerate((index.data() or "").split("\n")[:self.lines]):
            text_rect = QRect(r.x() + 2, frame.bottom() + 3 + 18 * i, r.width() - 4, 18)
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignCenter,
                             option.fontMetrics.elidedText(line, Qt.TextElideMode.ElideRight, text_rect.width()))
        painter.restore()


class TryItPanel(QWidget):
    """Drop or choose images and folders; shows each with its prediction."""

    #: a run finished and its predictions are on screen (the run folder)
    predictionsShown = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.controller: EvaluationController | None = None
        self.experiment = None
        #: start(args, folder) -> Job: set by the page (the job manager's start_worker)
        self.start_job = None
        self.job = None
        self.folder: Path | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.hint = QLabel("Drop images or folders here, or choose them: the model predicts each one.")
        self.hint.setWordWrap(True)
        row.addWidget(self.hint, 1)
        self.checkpoint = QComboBox()
        self.checkpoint.setToolTip("Which weights predict (only checkpoints on disk are offered)")
        row.addWidget(self.checkpoint)
        self.files_button = QPushButton("Choose images…")
        self.files_button.setToolTip("Pick image files to predict (Ctrl+T)")
        self.folder_button = QPushButton("Choose folder…")
        self.folder_button.setToolTip("Predict every image in a folder and its sub-folders")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop predicting; what was predicted so far is kept")
        #: the task's own settings (a detector's score threshold) go here
        self.view_controls = QHBoxLayout()
        row.addLayout(self.view_controls)
        self.open_button = QPushButton("Open predictions.csv")
        self.open_button.setToolTip("Open the table of predictions (file and class with its probability, or each "
                                    "target's value) written by the last run")
        for b in (self.files_button, self.folder_button, self.stop_button, self.open_button):
            row.addWidget(b)
        lay.addLayout(row)
        prog = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(14)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.status, 3)
        lay.addLayout(prog)
        self.loader = ThumbnailLoader(THUMB, capacity=600, parent=self)
        self.model = PredictionModel(self)
        self.view = QListView()
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setUniformItemSizes(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setModel(self.model)
        self.delegate = PredictionDelegate(self.loader, self.view)
        self.view.setItemDelegate(self.delegate)
        self.view.setMinimumHeight(140)
        self.loader.loaded.connect(lambda _i: self.view.viewport().update())
        lay.addWidget(self.view, 1)
        self.files_button.clicked.connect(self.choose_files)
        self.folder_button.clicked.connect(self.choose_folder)
        self.stop_button.clicked.connect(self.stop)
        self.open_button.clicked.connect(self.open_csv)
        sc = QShortcut(QKeySequence("Ctrl+T"), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        sc.activated.connect(self.choose_files)
        self._set_view(None)
        self._set_running(False)

    # ------------------------------------------------------------------ setup
    def set_experiment(self, controller: EvaluationController | None, experiment) -> None:
        self.controller, self.experiment = controller, experiment
        self._set_view(controller.project.task if controller is not None else None)
        self.try_view.set_experiment(controller, experiment)
        self.checkpoint.clear()
        if controller is not None and experiment is not None:
            for c in controller.checkpoints(experiment.id):
                self.checkpoint.addItem(c, c)
        self.model.set_items([])
        self.folder = None
        self.status.setText("")
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        ready = self.experiment is not None and self.checkpoint.count() > 0
        self.files_button.setEnabled(ready and not running)
        self.folder_button.setEnabled(ready and not running)
        self.checkpoint.setEnabled(not running)
        self.stop_button.setVisible(running)
        self.progress.setVisible(running)
        self.open_button.setEnabled(self.folder is not None and (self.folder / "predictions.csv").is_file())

    # ------------------------------------------------------------------ input
    def choose_files(self) -> None:
        if not self.files_button.isEnabled():
            return
        files, _ = QFileDialog.getOpenFileNames(self, "Images to predict", "", IMAGE_FILTER)
        if files:
            self.predict(files)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to predict")
        if folder:
            self.predict([folder])

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls() and self.files_button.isEnabled():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.predict(paths)

    # -------------------------------------------------------------------- run
    def predict(self, inputs: list[str]):
        """Start ``worker predict`` on files and folders; returns the job (or None)."""
        if self.controller is None or self.experiment is None or self.start_job is None:
            return None
        missing = [p for p in inputs if not Path(p).exists()]
        if missing:
            self.status.setText(f"<span style='color:#c0392b'>{missing[0]}: not found</span>")
            return None
        folder = self.controller.try_folder(self.experiment.id)
        args = self.controller.predict_args(self.experiment, [str(Path(p).resolve()) for p in inputs], folder,
                                            self.checkpoint.currentData() or "best") + self.try_view.worker_args()
        try:
            job = self.start_job(args, folder)
        except (RuntimeError, OSError) as exc:
            self.status.setText(f"<span style='color:#c0392b'>Could not start prediction: {exc}</span>")
            return None
        self.job, self.folder = job, folder
        self.model.set_items([])
        self.loader.clear()
        self.progress.setValue(0)
        self.status.setText(f"predicting {len(inputs)} item(s)…")
        job.progress.connect(self._on_progress)
        job.finished.connect(lambda j=job: self._finished(j))
        self._set_running(True)
        return job

    def stop(self) -> None:
        if self.job is not None and self.job.is_running:
            self.job.stop()

    def _on_progress(self, data: dict) -> None:
        total = int(data.get("total") or 0)
        step = int(data.get("step") or 0)
        self.progress.setValue(int(1000 * step / total) if total else 0)
        if data.get("message"):
            self.status.setText(str(data["message"]))

    def _finished(self, job) -> None:
        if job is not self.job:
            return
        self._set_running(False)
        if job.state == "failed":
            hint = f" ({job.hint})" if job.hint else ""
            self.status.setText(f"<span style='color:#c0392b'>Prediction failed: {job.error}{hint}</span>")
        self.show_folder(job.folder)

    def show_folder(self, folder: Path) -> None:
        """Show the predictions written into ``folder``."""
        self.folder = Path(folder)
        data = read_predictions(self.folder)
        items = [p for p in data.get("predictions", []) if isinstance(p, dict)]
        units = units_of(data)
        if not units and self.controller is not None:
            units = dict(self.controller.project.target_units)
        self.model.set_items(items, units)
        self.delegate.set_caption_lines(self.model.caption_lines())
        self.view.doItemsLayout()
        bad = sum(1 for p in items if not p.get("ok", True))
        unsure = sum(1 for p in items if p.get("uncertain"))
        op = data.get("operating_point")
        rule = "the saved operating point" if op else "plain argmax (no operating point saved)"
        decided = any("confidence" in p for p in items)  # classes decided by a rule (not values)
        if items:
            text = f"{len(items)} image(s) predicted" + (f" with {rule}" if decided else "")
            if unsure:
                text += f"; {unsure} flagged uncertain"
            if bad:
                text += f"; <span style='color:#c0392b'>{bad} could not be read (hover them for why)</span>"
            extra = self.try_view.status(items, data)
            self.status.setText(text + (f"; {extra}" if extra else "") + f". Saved in {self.folder}.")
        elif self.job is None or self.job.state != "failed":
            self.status.setText("No predictions were written.")
        self._set_running(False)
        self.predictionsShown.emit(str(self.folder))

    def _set_view(self, task: str | None) -> None:
        """The task's view: its settings beside the buttons, its thumbnail size, its captions and drawing."""
        current = getattr(self, "try_view", None)
        if current is not None and getattr(self, "_view_task", None) == task:
            return
        while self.view_controls.count():
            w = self.view_controls.takeAt(0).widget()
            if w is not None:
                w.setParent(None)
        self._view_task = task
        self.try_view = try_view_for(task, self._view_changed)
        for w in self.try_view.controls():
            self.view_controls.addWidget(w)
        self.model.view = self.delegate.view = self.try_view
        if self.loader.size != self.try_view.thumb:
            self.loader.shutdown()
            self.loader = ThumbnailLoader(self.try_view.thumb, capacity=600, parent=self)
            self.loader.loaded.connect(lambda _i: self.view.viewport().update())
            self.delegate.loader = self.loader
        self.delegate.set_caption_lines(self.model.caption_lines())
        self.view.doItemsLayout()

    def _view_changed(self) -> None:
        self.model.refresh()
        self.view.viewport().update()
        if self.folder is not None and self.model.items:
            self.show_folder(self.folder)

    def open_csv(self) -> None:
        if self.folder is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.folder / "predictions.csv")))

    def shutdown(self) -> None:
        self.loader.shutdown()
