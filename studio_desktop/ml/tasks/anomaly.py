"""Anomaly detection: an image score and a heat map per image, learnt two ways.

* Normal-only models (anomalib's PatchCore, PaDiM, STFPM, FastFlow, Reverse Distillation,
  DRAEM) learn from the training subset's NORMAL images; anomalous images a split
  put in train are left out and counted in the log. PatchCore and PaDiM are *fitted*: one pass
  over the images collects features, then :meth:`AnomalyHead.fit` builds the model (coreset
  selection, Gaussians) with progress and stop; they have no epochs.
* Supervised models (classification backbones with one logit) learn good versus defective from
  both kinds; the loss is ``BCEWithLogitsLoss`` whose positive weight balances the few defects
  against the many good images (the setting ``pos_weight``, "auto" by default).

Every network gives ``{"score", "map"}`` (``ml/models/anomaly.py``); validation reports the image
AUROC when the validation subset has both kinds of image (a normal-only split's validation
usually has no defects: then best.ckpt is the last epoch, as without validation).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAUROC

from ...core.anomaly_models import FITTED, SUPERVISED, TRAINED, anomaly_model
from ...core.errors import InvalidInput
from ...core.schemas import ImageRecord
from ...core.task_settings import settings_for
from .base import TaskHead

#: the cached map's side: min(S, MAP_SIDE) (the contract with the evaluation: ~32 kB per image)
MAP_SIDE = 128
#: geometric augmentation of supervised anomaly models: light (a defect must stay a defect)
NO_DEFECTS_IN_TRAIN = ("the training subset has no anomalous images; choose a normal-only model (PatchCore, "
                       "PaDiM...) or a supervised split (defects in train)")


class AnomalyHead(TaskHead):
    task = "anomaly_detection"

    def __init__(self, project, config):
        super().__init__(project, config)
        self.model_info = anomaly_model(config.model)
        if self.model_info is None:
            raise InvalidInput(f"invalid training setting 'model': '{config.model}' is not an anomaly detection "
                               "model")
        self.settings = settings_for("anomaly_detection", config)
        self.pos_weight = torch.ones(())
        #: (step, total, message) while fitting; train.py points it at the progress events
        self.fit_progress: Callable[[int, int, str], None] = lambda step, total, message: None

    # ------------------------------------------------------------------ what learns how
    @property
    def kind(self) -> str:
        return self.model_info.kind

    @property
    def fits(self) -> bool:
        return self.kind == FITTED

    # ------------------------------------------------------------------ data
    def usable(self, record: ImageRecord) -> bool:
        return record.anomaly is not None

    def target(self, record: ImageRecord) -> torch.Tensor:
        return torch.tensor(1.0 if record.anomaly.status == "anomalous" else 0.0)

    def prepare_subsets(self, subsets: dict[str, list[ImageRecord]]) -> dict[str, list[ImageRecord]]:
        train = subsets.get("train", [])
        bad = [r for r in train if r.anomaly.status == "anomalous"]
        if self.kind == SUPERVISED:
            if not bad:
                raise InvalidInput(NO_DEFECTS_IN_TRAIN)
            if len(bad) == len(train):
                raise InvalidInput("the training subset has only anomalous images; a supervised model needs "
                                   "normal ones too")
            return subsets
        if bad:
            self.report(f"{len(bad)} anomalous image(s) of the training subset are left out: "
                        f"{self.config.model} learns from normal images only", "info")
        normal = [r for r in train if r.anomaly.status != "anomalous"]
        if not normal:
            raise InvalidInput("the training subset has no normal images to learn from")
        return {**subsets, "train": normal}

    def validates(self, records: list[ImageRecord]) -> bool:
        """Whether validation can rank images (it needs normal and anomalous ones)."""
        kinds = {r.anomaly.status for r in records if r.anomaly is not None}
        if len(kinds) == 2:
            return True
        if records:
            self.report("the validation subset has no anomalous images, so image AUROC cannot be measured "
                        "during training: best.ckpt is the last epoch (the Evaluation page chooses the "
                        "threshold from the normal validation images)", "info")
        return False

    def transforms(self, train: bool) -> Callable:
        from ..augment import build_transforms

        steps = self.config.augmentations if train and self.kind != FITTED else []
        return build_transforms(steps, self.config.input_size, train=train)

    def zooms(self) -> bool:
        return self.kind != FITTED and super().zooms()

    # ------------------------------------------------------------------ model
    def build_model(self, log: Callable[[str, str], None]) -> nn.Module:
        from ..models.anomaly import build_anomaly_net

        if self.fits:  # Lightning's notes about a run without an optimiser are expected here
            for text in (".*configure_optimizers.*returned `None`.*", ".*training_step.*returned `None`.*",
                         ".*module\\(s\\) in eval mode.*"):
                warnings.filterwarnings("ignore", message=text)

        return build_anomaly_net(self.config.model, input_size=self.config.input_size, settings=self.settings,
                                 pretrained=self.config.pretrained, weights_file=self.config.weights_file, log=log,
                                 on_weights=lambda record: setattr(self, "weights_used", record))

    def set_train_statistics(self, train_targets: list[torch.Tensor]) -> None:
        if self.kind != SUPERVISED or not train_targets:
            return
        y = torch.stack(list(train_targets))
        bad, good = float(y.sum()), float(len(y) - y.sum())
        if self.settings.pos_weight == "auto":
            self.pos_weight = torch.tensor(good / bad if bad else 1.0)
        else:
            self.pos_weight = torch.tensor(float(self.settings.pos_weight))
        self.report(f"defect weight {float(self.pos_weight):.2f} ({int(good)} normal, {int(bad)} anomalous "
                    "training images)", "info")

    def loss(self, outputs: dict, targets: torch.Tensor) -> torch.Tensor:
        score = outputs["score"].float()
        return F.binary_cross_entropy_with_logits(score, targets.float(),
                                                  pos_weight=self.pos_weight.to(score.device))

    def training_loss(self, model: nn.Module, x, y):
        if self.kind == FITTED:
            model(x)  # collects the batch's features; nothing to optimise
            return None
        if self.kind == TRAINED:
            return model.training_loss(x)
        return self.loss(model(x), y)

    def eval_step(self, model: nn.Module, x, y):
        out = model(x)
        return out, (self.loss(out, y) if self.kind == SUPERVISED else None)

    def fit(self, model: nn.Module, stop: Callable[[], bool]) -> bool:
        """Build a fitted model from the features collected over the training images; False when
        a stop request came first (the model is then incomplete and must not be saved)."""
        inner = model.inner
        if model.info.package == "padim":
            self.fit_progress(0, 1, "fitting PaDiM's Gaussians")
            inner.fit()
            self.fit_progress(1, 1, "fitting PaDiM's Gaussians")
            return True
        return fit_patchcore(inner, self.settings.coreset_ratio, self.fit_progress, stop, self.report,
                             seed=self.config.seed)

    # ------------------------------------------------------------------ metrics
    def metrics(self) -> MetricCollection:
        return MetricCollection({"image_auroc": BinaryAUROC()})

    def update_metrics(self, metrics, outputs, targets) -> None:
        metrics.update(outputs["score"].float(), targets.long())

    def compute_metrics(self, metrics) -> dict[str, float]:
        auroc = metrics["image_auroc"]
        target = auroc.target if isinstance(auroc.target, torch.Tensor) else (
            torch.cat(auroc.target) if auroc.target else torch.zeros(0))
        if target.numel() == 0 or bool((target == target[0]).all()):
            return {}  # one kind of image only: nothing to rank
        return {"image_auroc": float(metrics.compute()["image_auroc"])}

    # ------------------------------------------------------------------ evaluation, decode
    def eval_batch(self, outputs: dict) -> dict:
        amap = outputs["map"].float()
        side = min(int(amap.shape[-1]), MAP_SIDE)
        if amap.shape[-1] != side:
            amap = F.interpolate(amap, size=(side, side), mode="area")
        return {"score": outputs["score"].float().cpu().numpy(),
                "map": amap[:, 0].cpu().numpy().astype("float16")}

    def evaluation(self):
        from .anomaly_eval import AnomalyEvaluation

        return AnomalyEvaluation(self)

    def evaluate_batch(self, model, x, y, batch):
        """The network's score and map plus the ground-truth masks on the map's grid (read from the
        dataset for the batch's records; ``anomaly_eval.evaluate_batch``)."""
        from .anomaly_eval import evaluate_batch

        return evaluate_batch(self, model, x, y, batch)

    def decode(self, outputs: dict) -> list[dict]:
        return [{"score": float(s)} for s in outputs["score"].float().tolist()]

    def experiment_info(self) -> dict:
        return {"anomaly_model": {"kind": self.kind, "backbone": self.model_info.backbone,
                                  "package": self.model_info.package}}

    @property
    def monitor(self) -> str:
        return "val_image_auroc"

    @property
    def monitor_mode(self) -> str:
        return "max"


def fit_patchcore(inner: nn.Module, ratio: float, progress: Callable[[int, int, str], None],
                  stop: Callable[[], bool], report: Callable[..., None], *, seed: int = 0) -> bool:
    """PatchCore's coreset selection, step by step with progress and stop.

    The steps are anomalib's own (``KCenterGreedy``: random projection, a random first centre,
    then greedily the patch farthest from the chosen ones), in the same order with the same
    random draws as ``PatchcoreModel.subsample_embedding``, so the memory bank is the one
    anomalib would build; only the loop is here, to report and to stop.

    Two things make it reproducible, which anomalib leaves to chance: the patches are put in a
    canonical order (by a fixed projection) so the result does not depend on the order the
    shuffled loader delivered the images, and the random projection and the first centre are
    drawn from ``seed`` (the run's seed)."""
    from anomalib.models.components import KCenterGreedy

    if not inner.embedding_store:
        raise InvalidInput("no training image reached the model: nothing to fit")
    bank = canonical_order(torch.vstack(inner.embedding_store))
    inner.embedding_store.clear()
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # (the projection draws through scikit-learn from numpy's generator)
    sampler = KCenterGreedy(embedding=bank, sampling_ratio=ratio) if int(len(bank) * ratio) > 0 else None
    if sampler is None:
        raise InvalidInput(f"invalid training setting 'coreset_ratio': {ratio} of {len(bank)} patches keeps none; "
                           "raise it")
    total = sampler.coreset_size
    progress(0, total, f"selecting the coreset: {total:,} of {len(bank):,} patches")
    sampler.model.fit(bank)
    sampler.features = sampler.model.transform(bank)
    sampler.reset_distances()
    idx = torch.randint(high=sampler.n_observations, size=(1,), device=sampler.features.device).squeeze()
    chosen = [idx]
    last = time.monotonic()
    for k in range(total - 1):
        sampler.update_distances(cluster_center=idx)
        idx = sampler.get_new_idx()
        sampler.min_distances.scatter_(0, idx.unsqueeze(0).unsqueeze(1), 0.0)
        chosen.append(idx)
        if stop():
            return False
        now = time.monotonic()
        if now - last >= 0.2:
            last = now
            progress(k + 2, total, f"selecting the coreset: {k + 2:,} of {total:,} patches")
    inner.memory_bank = bank[torch.stack(chosen).cpu().tolist()]
    progress(total, total, f"memory bank: {total:,} patches of {bank.shape[1]} features")
    report(f"PatchCore memory bank: {total:,} patches x {bank.shape[1]} features "
           f"({total * bank.shape[1] * 4 / 2**20:.1f} MiB) chosen from {len(bank):,}", "info")
    return True


def canonical_order(bank: torch.Tensor) -> torch.Tensor:
    """The rows of ``bank`` sorted by their projection on a fixed direction (a stable order that
    depends on the patches only, not on the order they came in)."""
    direction = torch.linspace(1.0, 2.0, bank.shape[1], dtype=torch.float64, device=bank.device)
    return bank[torch.argsort(bank.double() @ direction, stable=True)]


__all__ = ["AnomalyHead", "canonical_order", "MAP_SIDE", "NO_DEFECTS_IN_TRAIN", "fit_patchcore"]
