"""Object detection: boxes with classes, torchvision detectors, COCO mAP.

What differs from classification lives here and nowhere in the generic code:

* a target is a dict of tensors (``boxes`` in the record's pixels, ``labels`` = project class
  index + 1 with 0 the background, ``ignore`` for ``difficult`` / ``iscrowd`` boxes) and moves
  with the image through the joint transforms (``ml/detection_data.py``);
* torchvision's detectors compute their loss inside ``forward`` (:meth:`training_loss`) and
  cannot give one in eval mode (:meth:`eval_step` returns no loss: there is no ``val_loss``);
* the validation metric is COCO mAP@0.5:0.95 ('map') of torchmetrics' ``MeanAveragePrecision``
  with the ``faster_coco_eval`` backend, on boxes in input (letterboxed) pixels; ignore boxes
  are COCO "crowd" there, so a detection of one is neither right nor wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ...core.errors import InvalidInput
from ...core.schemas import ImageRecord
from ...core.task_settings import settings_for
from ..detection_data import MIN_SIDE, DropCounter, collate, detection_transforms, joint_sample
from .base import TaskHead

#: the numbers of MeanAveragePrecision's result the curves and the summary show (the registry's;
#: sizes and per-class numbers are the Evaluation page's)
SCALARS = ("map", "map_50", "map_75", "mar_100")


class DetectionHead(TaskHead):
    task = "object_detection"

    def __init__(self, project, config):
        super().__init__(project, config)
        if not project.classes:
            raise InvalidInput(f"project '{project.name}' has no classes; import annotated images first")
        #: class id (project.json) -> project class index (model label = index + 1; 0 is background)
        self.index = {c.id: i for i, c in enumerate(project.classes)}
        self.names = [c.name for c in project.classes]
        self.settings = settings_for("object_detection", config)
        self.counter = DropCounter()
        # the joint transform as a picklable function (a loader worker process may get it; the
        # head itself holds the training log, which must not travel)
        self.sample = joint_sample
        #: batch norm of the backbone frozen (pretrained weights were loaded); travels in checkpoints
        self.frozen_norm = False

    @property
    def num_classes(self) -> int:
        return len(self.names)

    # ------------------------------------------------------------------ data
    def usable(self, record: ImageRecord) -> bool:
        """Every image: one without boxes is a valid negative (nothing to find there)."""
        return True

    def scorable(self, record: ImageRecord) -> bool:
        return all(b.cls in self.index for b in record.boxes)

    def target(self, record: ImageRecord) -> dict[str, torch.Tensor]:
        boxes, labels, ignore = [], [], []
        for b in record.boxes:
            if b.cls not in self.index:
                raise InvalidInput(f"image {record.file} has a box of class {b.cls}, which is not a class of "
                                   "the project")
            boxes.append([b.x1, b.y1, b.x2, b.y2])
            labels.append(self.index[b.cls] + 1)
            ignore.append(bool(b.difficult or b.iscrowd))
        return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                "labels": torch.tensor(labels, dtype=torch.int64), "ignore": torch.tensor(ignore, dtype=torch.bool)}

    def transforms(self, train: bool):
        return detection_transforms(self.config.augmentations, self.config.input_size, train=train)

    def collate(self, batch):
        return collate(batch)

    def draw_target(self, image: torch.Tensor, target: dict | None) -> torch.Tensor:
        """The boxes in the project's class colours with their names; ignore boxes in grey."""
        from torchvision.utils import draw_bounding_boxes

        if not target or not len(target["boxes"]):
            return image
        colours = [c.color for c in self.project.classes]
        labels = [("ignore: " if ig else "") + self.names[int(lab) - 1]
                  for lab, ig in zip(target["labels"].tolist(), target["ignore"].tolist(), strict=True)]
        fills = ["#9e9e9e" if ig else colours[int(lab) - 1]
                 for lab, ig in zip(target["labels"].tolist(), target["ignore"].tolist(), strict=True)]
        small = image.shape[-1] < 200  # (names would cover small images)
        return draw_bounding_boxes(image, target["boxes"], labels=None if small else labels, colors=fills, width=1)

    def set_train_statistics(self, train_targets: list[dict]) -> None:
        """Say once what the training data holds that is not an ordinary box."""
        n_boxes = sum(len(t["boxes"]) for t in train_targets)
        ignored = sum(int(t["ignore"].sum()) for t in train_targets)
        degenerate = sum(int((((t["boxes"][:, 2] - t["boxes"][:, 0]) < MIN_SIDE)
                              | ((t["boxes"][:, 3] - t["boxes"][:, 1]) < MIN_SIDE)
                              | ~torch.isfinite(t["boxes"]).all(1)).sum()) for t in train_targets)
        empty = sum(1 for t in train_targets if len(t["boxes"]) == 0)
        self.report(f"{len(train_targets)} training images, {n_boxes} boxes", "info")
        if empty:
            self.report(f"{empty} training image(s) have no boxes: they are learnt as images without objects",
                        "info")
        if ignored:
            self.report(f"{ignored} box(es) marked difficult or crowd are left out of the loss (and count as "
                        "neither right nor wrong in mAP)", "info")
        if degenerate:
            self.report(f"{degenerate} box(es) of the annotations are thinner than {MIN_SIDE:g} px or not finite: "
                        "they are dropped from training (fix them on the Dataset page)", "warning")

    def end_of_epoch(self, epoch: int) -> None:
        dropped, emptied = self.counter.take()
        if dropped:
            extra = f"; {emptied} image(s) were left with none" if emptied else ""
            self.report(f"epoch {epoch}: {dropped} box(es) were dropped after augmentation and letterbox (cut off "
                        f"by a crop or thinner than {MIN_SIDE:g} px){extra}", "info")

    # ------------------------------------------------------------------ model
    def build_model(self, log: Callable[[str, str], None]) -> nn.Module:
        from ..models.detection import (
            TEACHING,
            backbone_body,
            build_detector,
            freeze_batch_norm,
            load_detector_weights,
            set_anchor_sizes,
        )

        s = self.settings
        anchors = s.anchor_list()
        model = build_detector(self.config.model, self.num_classes, self.config.input_size, nms_iou=s.nms_iou,
                               max_detections=s.max_detections,
                               anchor_sizes=anchors if self.config.model == TEACHING else None)
        if anchors and self.config.model != TEACHING:
            set_anchor_sizes(model, self.config.model, anchors)
        if self.config.pretrained or self.config.weights_file:
            record = load_detector_weights(model, self.config.model, self.config.weights_file, log)
            if record is not None:
                self.weights_used = record
                self.frozen_norm = self.config.model != TEACHING
        if self.frozen_norm:
            freeze_batch_norm(backbone_body(model))
        return model

    def training_loss(self, model, x, y) -> torch.Tensor:
        for t in y:  # what the pipeline dropped (counted here: a loader worker's counts would be lost)
            dropped = int(t.get("dropped", 0))
            self.counter.add(dropped, emptied=dropped > 0 and len(t["boxes"]) == 0)
        targets = [{"boxes": t["boxes"][~t["ignore"]], "labels": t["labels"][~t["ignore"]]} for t in y]
        losses = model(x, targets)
        return sum(losses.values())

    def eval_step(self, model, x, y):
        return model(x), None

    def loss(self, outputs, targets):  # (the detector computes its own: see training_loss)
        raise NotImplementedError("a detector computes its loss in training mode (training_loss)")

    # ------------------------------------------------------------------ metrics
    def metrics(self):
        from torchmetrics.detection import MeanAveragePrecision

        return MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="faster_coco_eval")

    @staticmethod
    def predictions(outputs: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """The padded batch output as one dict per image (padding rows dropped)."""
        out = []
        for b, s, lab in zip(outputs["boxes"], outputs["scores"], outputs["labels"], strict=True):
            keep = lab >= 0
            out.append({"boxes": b[keep], "scores": s[keep], "labels": lab[keep]})
        return out

    def update_metrics(self, metrics, outputs, targets) -> None:
        truth = [{"boxes": t["boxes"], "labels": t["labels"] - 1, "iscrowd": t["ignore"].long()} for t in targets]
        metrics.update(self.predictions(outputs), truth)

    def compute_metrics(self, metrics) -> dict[str, float]:
        """COCO numbers (-1, "no such objects", left out); 'map' (mAP@0.5:0.95) picks the best epoch."""
        values = metrics.compute()
        out = {}
        for key in SCALARS:
            v = float(values[key]) if key in values else -1.0
            if v >= 0 and math.isfinite(v):
                out[key] = v
        out.setdefault("map", 0.0)
        return out

    # ------------------------------------------------------------------ decode, save, evaluate
    def decode(self, outputs: dict[str, torch.Tensor]) -> list[dict]:
        """Boxes above the display threshold, in input pixels (``core/letterbox.py`` maps them back)."""
        lines = []
        for det in self.predictions(outputs):
            keep = det["scores"] >= self.settings.score_threshold
            boxes = []
            for (x1, y1, x2, y2), score, label in zip(det["boxes"][keep].tolist(), det["scores"][keep].tolist(),
                                                      det["labels"][keep].tolist(), strict=True):
                c = self.project.classes[label]
                boxes.append({"cls": c.id, "name": c.name, "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                              "score": score})
            lines.append({"boxes": boxes})
        return lines

    def eval_batch(self, outputs: dict[str, torch.Tensor]) -> dict:
        return {k: outputs[k].detach().cpu().numpy() for k in ("boxes", "scores", "labels")}

    def evaluation(self):
        from .detection_eval import DetectionEvaluation

        return DetectionEvaluation(self)

    def checkpoint_meta(self) -> dict:
        return {**super().checkpoint_meta(), "frozen_norm": self.frozen_norm}

    def restore_meta(self, meta: dict) -> None:
        self.frozen_norm = bool(meta.get("frozen_norm", False))


__all__ = ["DetectionHead"]
