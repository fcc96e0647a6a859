"""The evaluator on a tiny trained model: files, per-image results, metrics against scikit-learn,
the operating point kept across runs, stop/failure leaving the previous evaluation intact, label
errors found, and prediction on new images agreeing with the evaluation."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from ml_helpers import make_tiny_project, tiny_config
from sklearn import metrics as skm

from studio_desktop.core.datasets import DatasetStore
from studio_desktop.core.evaluation.operating_point import OperatingPoint, save_operating_point
from studio_desktop.core.evaluation.store import EvaluationStore
from studio_desktop.core.experiments import ExperimentService
from studio_desktop.core.procs import StopFlag
from studio_desktop.core.splits import Split, SplitService
from studio_desktop.core.workspace import Workspace
from studio_desktop.worker.evaluate import evaluation_job
from studio_desktop.worker.train import run_training

pytestmark = pytest.mark.ml


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 3-class colour project (12 images a class: 4 train, 4 val, 4 test) trained for 4 epochs."""
    root = tmp_path_factory.mktemp("evalws")
    ws = Workspace.open(root / "ws")
    torch.set_num_threads(1)
    project, _ = make_tiny_project(ws, per_class=12)
    records = DatasetStore(ws, project.id).load().images
    order = {}
    for r in records:
        order.setdefault(r.label, []).append(r.id)
    assignments = {rid: ("val", "test", "train")[k % 3] for ids in order.values() for k, rid in enumerate(ids)}
    SplitService(ws, project.id).save(Split(id="s3", name="three", task="classification",
                                            ratios={"train": 0.34, "val": 0.33, "test": 0.33}, assignments=assignments))
    svc = ExperimentService(ws, project.id)
    exp = svc.create(tiny_config(epochs=4, split_id="s3"), name="tiny")
    outcome = run_training(ws, project.id, exp.id)
    assert outcome.status == "completed"
    yield ws, project, svc, exp, outcome.summary
    ws.close()


def _evaluate(ws, project, exp, **kw):
    return evaluation_job(ws, project.id, exp.id, device="cpu", **kw)


def test_evaluation_files_results_and_metrics_equal_sklearn(trained):
    ws, project, svc, exp, summary = trained
    outcome = _evaluate(ws, project, exp)
    assert outcome.status == "completed", outcome.error
    store = EvaluationStore(svc.folder(exp.id))
    for name in ("evaluation.json", "aggregate.json", "results.jsonl", "scores.npz", "label_issues.json"):
        assert (store.folder / name).is_file(), name
    info, agg, lines = store.info(), store.aggregate(), store.results()
    assert info.images == {"val": 12, "test": 12} and info.checkpoint["which"] == "best"
    assert len(info.checkpoint["sha256"]) == 64 and info.timings["images_per_s"] > 0
    assert len(lines) == 24 and {ln["subset"] for ln in lines} == {"val", "test"}
    assert len({ln["image"] for ln in lines}) == 24
    for subset in ("val", "test"):
        rows = [ln for ln in lines if ln["subset"] == subset]
        y = [ln["truth"]["label"] for ln in rows]
        p = [ln["prediction"]["label"] for ln in rows]
        m = agg["subsets"][subset]["metrics"]
        # aggregate equals the per-image results, and scikit-learn on them
        assert m["accuracy"] == pytest.approx(np.mean([ln["correct"] for ln in rows]))
        assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p))
        assert m["f1_macro"] == pytest.approx(skm.f1_score(y, p, average="macro", zero_division=0))
        assert m["precision_weighted"] == pytest.approx(
            skm.precision_score(y, p, average="weighted", zero_division=0))
        probs = np.array([ln["probabilities"] for ln in rows])
        assert np.allclose(probs.sum(1), 1, atol=1e-4)
        assert sum(map(sum, agg["subsets"][subset]["confusion"])) == 12
        lo, hi = agg["subsets"][subset]["intervals"]["accuracy"]
        assert lo <= m["accuracy"] <= hi
    # the same checkpoint gives the training summary's numbers (pages agree with each other)
    assert agg["subsets"]["val"]["metrics"]["accuracy"] == pytest.approx(summary["val"]["accuracy"])
    assert agg["subsets"]["test"]["metrics"]["accuracy"] == pytest.approx(summary["test"]["accuracy"])
    events = [json.loads(x) for x in (svc.folder(exp.id) / "jobs/evaluate/events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "completed" and any(e["event"] == "progress" for e in events)


def test_operating_point_survives_reevaluation_and_reset_deletes(trained):
    ws, project, svc, exp, _ = trained
    store = EvaluationStore(svc.folder(exp.id))
    assert _evaluate(ws, project, exp).status == "completed"
    save_operating_point(store.folder, OperatingPoint(uncertain_below=0.99))
    assert _evaluate(ws, project, exp, subsets=["test"]).status == "completed"
    assert (store.folder / "operating_point.json").is_file()
    agg = store.aggregate()
    assert agg["operating_point"]["uncertain_below"] == 0.99 and list(agg["subsets"]) == ["test"]
    body = agg["subsets"]["test"]
    assert body["counted"] + body["flagged"] == 12
    assert sum(ln["uncertain"] for ln in store.results()) == body["flagged"]
    store.reset()
    assert not store.folder.exists() and not store.exists()


def test_stop_and_failures_leave_the_previous_evaluation(trained, tmp_path):
    ws, project, svc, exp, _ = trained
    store = EvaluationStore(svc.folder(exp.id))
    assert _evaluate(ws, project, exp).status == "completed"
    before = (store.folder / "results.jsonl").read_bytes()
    stop = StopFlag()
    stop.set("test")
    assert _evaluate(ws, project, exp, stop=stop).status == "stopped"
    # a truncated checkpoint file: one line naming it
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(svc.checkpoint(exp.id, "best").read_bytes()[:5000])
    out = _evaluate(ws, project, exp, checkpoint=str(broken))
    assert out.status == "failed" and str(broken) in out.error and "cannot read the checkpoint" in out.error
    # a checkpoint of another project is refused by name
    ckpt = torch.load(svc.checkpoint(exp.id, "best"), weights_only=True)
    ckpt["studio"]["project_id"], ckpt["studio"]["project_name"] = "other", "Other project"
    foreign = tmp_path / "foreign.ckpt"
    torch.save(ckpt, foreign)
    out = _evaluate(ws, project, exp, checkpoint=str(foreign))
    assert out.status == "failed" and "belongs to project 'Other project'" in out.error
    assert (store.folder / "results.jsonl").read_bytes() == before
    assert not list(svc.folder(exp.id).glob(".evaluation-*"))


def test_a_damaged_image_fails_naming_the_file(trained):
    ws, project, svc, exp, _ = trained
    ds = DatasetStore(ws, project.id)
    rec = next(r for r in ds.load().images if r.id in _split(ws, project, "test"))
    path = ds.root / rec.file
    saved = path.read_bytes()
    try:
        path.write_bytes(b"not an image")
        out = _evaluate(ws, project, exp, subsets=["test"])
        assert out.status == "failed" and rec.source in out.error and "cannot decode" in out.error
    finally:
        path.write_bytes(saved)


def _split(ws, project, subset):
    return {k for k, v in SplitService(ws, project.id).get("s3").assignments.items() if v == subset}


def test_flipped_labels_rank_highest_as_likely_label_errors(trained, tmp_path):
    ws, project, svc, exp, _ = trained
    ds = DatasetStore(ws, project.id)
    original = ds.json_path.read_bytes()
    dataset = ds.load()
    evaluated = _split(ws, project, "val") | _split(ws, project, "test")
    flipped = []
    for rec in dataset.images:
        if rec.id in evaluated and len(flipped) < 3 and rec.label == len(flipped):
            rec.label = (rec.label + 1) % 3
            flipped.append(rec.id)
    backup = tmp_path / "dataset.json"
    shutil.copy(ds.json_path, backup)
    try:
        ds.save(dataset)
        assert _evaluate(ws, project, exp).status == "completed"
        issues = EvaluationStore(svc.folder(exp.id)).label_issues()
        assert {i["image"] for i in issues[:3]} == set(flipped)
        top = issues[0]
        assert top["given"]["label"] != top["suggested"]["label"]
    finally:
        shutil.copy(backup, ds.json_path)
    assert ds.json_path.read_bytes() == original


def test_prediction_on_a_folder_with_a_corrupt_file_agrees_with_the_evaluation(trained, tmp_path):
    from studio_desktop.ml.predict import predict

    ws, project, svc, exp, _ = trained
    assert _evaluate(ws, project, exp, subsets=["test"]).status == "completed"
    lines = {ln["image"]: ln for ln in EvaluationStore(svc.folder(exp.id)).results()}
    ds = DatasetStore(ws, project.id)
    folder = tmp_path / "new"
    (folder / "sub").mkdir(parents=True)
    recs = [r for r in ds.load().images if r.id in lines][:5]
    for r in recs:
        shutil.copy(ds.root / r.file, folder / "sub" / f"{r.id}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG garbage")
    (folder / "notes.txt").write_text("not an image")
    rows, predictor, _ = predict(ws, exp.name, [folder], tmp_path / "out")
    assert len(rows) == 6
    bad = [r for r in rows if not r["ok"]]
    assert len(bad) == 1 and bad[0]["file"].endswith("broken.png") and "cannot decode" in bad[0]["error"]
    for row in rows:
        if row["ok"]:
            rid = row["file"].rsplit("/", 1)[-1].removesuffix(".png")
            assert row["prediction"]["label"] == lines[rid]["prediction"]["label"]
            assert row["confidence"] == pytest.approx(lines[rid]["confidence"], abs=1e-5)
    data = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert data["failed"] == 1 and data["images"] == 6
    csv = (tmp_path / "out" / "predictions.csv").read_text().splitlines()
    assert csv[0].startswith("file,status,class,confidence") and len(csv) == 7
    # the checkpoint file alone gives the same answers
    rows2, _, _ = predict(None, str(svc.checkpoint(exp.id, "best")), [folder / "sub"], None)
    assert [r["prediction"] for r in rows2] == [r["prediction"] for r in rows if r["ok"]]
