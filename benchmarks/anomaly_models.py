"""Normal-only anomaly models on this CPU: image / pixel AUROC, fit or training time, peak memory.

Each model learns from the normal training images of an MVTec-layout dataset (``train/good``) and
is measured on ``test/*`` (masks in ``ground_truth``): the procedural anomaly sample
(``studio sample --task anomaly_detection``) and the real fixture ``mvtec_hazelnut``. Every
(dataset, model) runs in its own process through the app's training pipeline (``run_training``),
so the peak memory (max RSS) is that model's. No pretrained weights are used unless
``--pretrained`` (they must then be in the weights store). Times are printed against PatchCore's
on the same dataset, measured in the same run.

    python benchmarks/anomaly_models.py [--size 128] [--epochs 3] [--models a,b] [--datasets sample,hazelnut]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HAZELNUT = ROOT.parent / "shared" / "fixtures" / "real" / "mvtec_hazelnut"
MODELS = ["patchcore_resnet18", "padim_resnet18", "stfpm_resnet18", "fastflow_resnet18",
          "reverse_distillation_resnet18", "draem"]


def _project(ws, source: Path):
    """Import an MVTec-layout folder; the MVTec split (train/good -> train, test/* -> test)."""
    from studio_desktop.core.datasets import DatasetStore
    from studio_desktop.core.importing import import_dataset
    from studio_desktop.core.projects import ProjectService
    from studio_desktop.core.splits import Split, SplitService

    project = ProjectService(ws).create("bench", "anomaly_detection")
    import_dataset(ws, project.id, source)
    records = DatasetStore(ws, project.id).load().images
    assignments = {r.id: "train" if "train/" in r.source.replace("\\", "/") else "test" for r in records}
    split = Split(id="mvtec", name="mvtec", task="anomaly_detection", ratios={"train": 0.5, "test": 0.5},
                  anomaly_mode="normal-only", assignments=assignments)
    SplitService(ws, project.id).save(split)
    return project, split, [r for r in records if assignments[r.id] == "test"]


def aurocs(trained, records, root: Path) -> tuple[float, float | None]:
    """Image AUROC and pixel AUROC (at the input size, masks resized nearest) of a trained model."""
    import numpy as np
    import torch
    from PIL import Image
    from torchmetrics.classification import BinaryAUROC

    size = trained.config.input_size
    scores, maps, labels, masks = [], [], [], []
    with torch.no_grad():
        for rec in records:
            out = trained(trained.preprocessing.tensor(root / rec.file)[None])
            scores.append(out["score"][0])
            maps.append(out["map"][0, 0])
            labels.append(int(rec.anomaly.status == "anomalous"))
            m = np.zeros((size, size), bool)
            if rec.anomaly.mask:
                with Image.open(root / rec.anomaly.mask) as im:
                    m = np.asarray(im.convert("L").resize((size, size), Image.Resampling.NEAREST)) > 127
            masks.append(torch.from_numpy(m))
    image = float(BinaryAUROC()(torch.stack(scores), torch.tensor(labels)))
    gt = torch.stack(masks).flatten().long()
    pixel = float(BinaryAUROC()(torch.stack(maps).flatten(), gt)) if gt.any() else None
    return image, pixel


def one(dataset: str, model: str, size: int, epochs: int, pretrained: bool) -> dict:
    import torch

    from studio_desktop.core.datasets import DatasetStore
    from studio_desktop.core.experiments import ExperimentService, apply_settings, defaults_for
    from studio_desktop.core.samples import write_sample
    from studio_desktop.core.workspace import Workspace
    from studio_desktop.ml.checkpoint import load_trained
    from studio_desktop.worker.train import run_training

    with tempfile.TemporaryDirectory() as tmp:
        source = HAZELNUT
        if dataset == "sample":
            source = write_sample("anomaly_detection", Path(tmp) / "sample", seed=0)
        ws = Workspace.open(Path(tmp) / "ws")
        project, split, test = _project(ws, source)
        cfg = apply_settings(defaults_for("anomaly_detection"),
                             [f"model={model}", f"input_size={size}", f"pretrained={pretrained}", "batch_size=8",
                              f"epochs={epochs}", f"split_id={split.id}", "early_stopping=false"],
                             "anomaly_detection")
        exp = ExperimentService(ws, project.id).create(cfg, name=model)
        t0 = time.perf_counter()
        outcome = run_training(ws, project.id, exp.id)
        fit_s = time.perf_counter() - t0
        if outcome.status != "completed":
            return {"dataset": dataset, "model": model, "error": outcome.error}
        trained = load_trained(ws, project.id, exp.id, "best")
        t1 = time.perf_counter()
        image, pixel = aurocs(trained, test, DatasetStore(ws, project.id).root)
        per_image_ms = (time.perf_counter() - t1) / len(test) * 1000
        ws.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"dataset": dataset, "model": model, "size": size, "epochs": 1 if "patchcore" in model or "padim" in model
            else epochs, "image_auroc": round(image, 4), "pixel_auroc": None if pixel is None else round(pixel, 4),
            "fit_s": round(fit_s, 1), "predict_ms_per_image": round(per_image_ms, 1), "peak_mib": round(peak),
            "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=3, help="epochs of the trained (not fitted) models")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--datasets", default="sample,hazelnut")
    ap.add_argument("--pretrained", action="store_true")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per model")
    ap.add_argument("--one", nargs=2, metavar=("DATASET", "MODEL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], args.one[1], args.size, args.epochs, args.pretrained)))
        return
    rows = []
    for dataset in args.datasets.split(","):
        base = None
        for model in args.models.split(","):
            cmd = [sys.executable, __file__, "--one", dataset, model, "--size", str(args.size), "--epochs",
                   str(args.epochs)] + (["--pretrained"] if args.pretrained else [])
            try:
                res = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT)
                row = json.loads(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 else \
                    {"dataset": dataset, "model": model, "error": (res.stderr.strip().splitlines() or ["?"])[-1]}
            except subprocess.TimeoutExpired:
                row = {"dataset": dataset, "model": model, "error": f"over {args.timeout} s"}
            if "fit_s" in row:
                base = base or row["fit_s"]
                row["fit_vs_patchcore"] = round(row["fit_s"] / base, 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| dataset | model | image AUROC | pixel AUROC | fit s (x PatchCore) | ms/image | peak MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['dataset']} | {r['model']} | error: {r['error'][:60]} | | | | |")
        else:
            print(f"| {r['dataset']} | {r['model']} | {r['image_auroc']} | {r['pixel_auroc']} | {r['fit_s']} "
                  f"({r['fit_vs_patchcore']}x) | {r['predict_ms_per_image']} | {r['peak_mib']} |")


if __name__ == "__main__":
    main()
