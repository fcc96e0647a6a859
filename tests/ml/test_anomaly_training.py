"""Anomaly detection training: a normal-only model (PatchCore, fitted in one pass) and a supervised
one learn the anomaly sample on a CPU in seconds, without any network access; the checkpoint
comes back with the forward contract; a supervised model refuses a split without defects."""

from __future__ import annotations

import socket

import pytest

torch = pytest.importorskip("torch")

from studio_desktop.core.datasets import DatasetStore  # noqa: E402
from studio_desktop.core.errors import InvalidInput  # noqa: E402
from studio_desktop.core.experiments import ExperimentService, apply_settings, defaults_for  # noqa: E402
from studio_desktop.core.importing import import_dataset  # noqa: E402
from studio_desktop.core.projects import ProjectService  # noqa: E402
from studio_desktop.core.samples import write_sample  # noqa: E402
from studio_desktop.core.splits import SplitService  # noqa: E402
from studio_desktop.core.workspace import Workspace  # noqa: E402
from studio_desktop.worker.train import run_training  # noqa: E402

pytestmark = pytest.mark.ml

TASK = "anomaly_detection"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The anomaly sample (60 discs, 10 defective) with a supervised split (defects in train)."""
    root = tmp_path_factory.mktemp("ano")
    write_sample(TASK, root / "sample", seed=0)
    ws = Workspace.open(root / "ws")
    torch.set_num_threads(2)
    project = ProjectService(ws).create("discs", TASK)
    import_dataset(ws, project.id, root / "sample")
    project = ProjectService(ws).get(project.id)
    splits = SplitService(ws, project.id)
    dataset = DatasetStore(ws, project.id).load()
    supervised = splits.create("supervised", splits.plan(project, dataset, ratios=(0.6, 0.2, 0.2), seed=0,
                                                          anomaly_mode="supervised"))
    normal_only = splits.create("normal", splits.plan(project, dataset, ratios=(0.6, 0.2, 0.2), seed=0,
                                                       anomaly_mode="normal-only"))
    yield ws, project, supervised, normal_only
    ws.close()


def _train(ws, project, settings: list[str], name: str):
    cfg = apply_settings(defaults_for(TASK), settings, TASK)
    svc = ExperimentService(ws, project.id)
    exp = svc.create(cfg, name=name)
    return svc, exp, run_training(ws, project.id, exp.id)


class NoNetwork:
    """Every attempt to open a connection is recorded and refused."""

    def __init__(self, monkeypatch):
        self.attempts: list = []
        original = socket.socket.connect

        def connect(sock, address):
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                self.attempts.append(address)
                raise OSError("network access is not allowed in this test")
            return original(sock, address)

        def create_connection(address, *a, **kw):
            self.attempts.append(address)
            raise OSError("network access is not allowed in this test")

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket, "create_connection", create_connection)


def test_patchcore_learns_normal_images_only_without_downloading(sample, monkeypatch, tmp_path):
    ws, project, split, _ = sample
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty weights store
    guard = NoNetwork(monkeypatch)
    svc, exp, outcome = _train(ws, project, ["model=patchcore_resnet18", "input_size=64", "pretrained=true",
                                             "batch_size=16", "epochs=5", f"split_id={split.id}"], "patchcore")
    assert outcome.status == "completed", outcome.error
    assert guard.attempts == []  # pretrained asked for, none on this computer: no download tried
    assert outcome.summary["epochs"] == 1  # fitted: one pass whatever the epochs setting says
    assert outcome.summary["test"]["image_auroc"] >= 0.9, outcome.summary
    log = (svc.folder(exp.id) / "train.log").read_text(encoding="utf-8")
    train_ids = {k for k, v in split.assignments.items() if v == "train"}
    bad = sum(1 for r in DatasetStore(ws, project.id).load().images
              if r.id in train_ids and r.anomaly.status == "anomalous")
    assert bad > 0 and f"{bad} anomalous image(s) of the training subset are left out" in log
    assert "pretrained weights not available offline" in log
    assert "PatchCore memory bank" in log

    from studio_desktop.ml.checkpoint import load_trained

    trained = load_trained(ws, project.id, exp.id, "best")
    bank = trained.model.inner.memory_bank
    assert bank.ndim == 2 and bank.shape[0] > 0  # the coreset came back from the checkpoint
    x = torch.stack([trained.preprocessing.tensor(DatasetStore(ws, project.id).root / r.file)
                     for r in DatasetStore(ws, project.id).load().images[:3]])
    out = trained(x)
    assert out["score"].shape == (3,) and out["map"].shape == (3, 1, 64, 64)
    assert out["score"].dtype == torch.float32 and torch.isfinite(out["map"]).all()
    cached = trained.head.eval_batch(out)
    assert cached["score"].shape == (3,) and cached["map"].shape == (3, 64, 64) and cached["map"].dtype.name == "float16"


def test_supervised_model_learns_good_versus_defective(sample):
    ws, project, split, _ = sample
    svc, exp, outcome = _train(ws, project, ["model=tiny_cnn", "input_size=48", "pretrained=false", "batch_size=8",
                                             "epochs=8", "lr=0.003", f"split_id={split.id}"], "supervised")
    assert outcome.status == "completed", outcome.error
    log = (svc.folder(exp.id) / "train.log").read_text(encoding="utf-8")
    assert "defect weight" in log  # "auto": the ratio of normal to anomalous training images
    assert outcome.summary["test"]["image_auroc"] >= 0.8, outcome.summary  # (1.0 from epoch 5 with seed 0)


def test_supervised_model_refuses_a_split_without_defects_in_train(sample):
    from studio_desktop.ml.tasks.anomaly import AnomalyHead

    ws, project, _, normal_only = sample
    cfg = apply_settings(defaults_for(TASK), ["model=tiny_cnn", f"split_id={normal_only.id}"], TASK)
    head = AnomalyHead(project, cfg)
    records = {r.id: r for r in DatasetStore(ws, project.id).load().images}
    subsets = {s: [records[i] for i, v in normal_only.assignments.items() if v == s] for s in ("train", "val", "test")}
    with pytest.raises(InvalidInput, match="no anomalous images; choose a normal-only model"):
        head.prepare_subsets(subsets)


def test_coreset_selection_reports_progress_and_stops():
    from studio_desktop.core.task_settings import AnomalySettings
    from studio_desktop.ml.models.anomaly import build_anomaly_net
    from studio_desktop.ml.tasks.anomaly import fit_patchcore

    def collected():
        net = build_anomaly_net("patchcore_resnet18", input_size=32, settings=AnomalySettings(), pretrained=False,
                                weights_file=None, log=lambda m, lvl="info": None).train()
        with torch.no_grad():
            net(torch.randn(6, 3, 32, 32))
        return net.inner

    inner, steps, notes = collected(), [], []
    assert fit_patchcore(inner, 0.5, lambda *a: steps.append(a[:2]), lambda: False, lambda m, lvl="info": notes.append(m))
    total = steps[0][1]
    assert steps[0] == (0, total) and steps[-1] == (total, total) and inner.memory_bank.shape[0] == total
    assert "memory bank" in notes[-1]
    inner = collected()
    assert not fit_patchcore(inner, 0.5, lambda *a: None, lambda: True, lambda *a, **k: None)
    assert inner.memory_bank.numel() == 0  # stopped: nothing half-built to save


def test_class_activation_map_averages_to_the_score():
    """The supervised heat map is in score units: its mean over the feature grid is the logit."""
    from studio_desktop.core.anomaly_models import anomaly_model
    from studio_desktop.core.task_settings import AnomalySettings
    from studio_desktop.ml.models.anomaly import build_supervised, class_activation

    net = build_supervised(anomaly_model("tiny_cnn"), settings=AnomalySettings(), pretrained=False,
                           weights_file=None, log=lambda m, lvl="info": None).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = net(x)
        cam = class_activation(net.features(x), net.fc)
    assert out["map"].shape == (2, 1, 64, 64)
    assert torch.allclose(cam.mean(dim=(1, 2, 3)), out["score"], atol=1e-5)


def test_anomaly_settings_refuse_bad_values_with_the_setting_named():
    with pytest.raises(InvalidInput, match="pos_weight"):
        apply_settings(defaults_for(TASK), ["pos_weight=many"], TASK)
    with pytest.raises(InvalidInput, match="coreset_ratio"):
        apply_settings(defaults_for(TASK), ["coreset_ratio=0"], TASK)
    from studio_desktop.core.task_settings import settings_for

    cfg = apply_settings(defaults_for(TASK), ["pos_weight=5", "coreset_ratio=0.01"], TASK)
    settings = settings_for(TASK, cfg)
    assert (settings.pos_weight, settings.coreset_ratio) == ("5", 0.01)
