"""PatchCore's cost against the number of training images: memory bank, fit time, prediction latency.

Synthetic training images (random textures with a disc, ``--size`` px) go through the app's
PatchCore network (``ml/models/anomaly.py``, ResNet-18 features, untrained) the way training does:
the feature pass, then the coreset selection (``ml/tasks/anomaly.fit_patchcore``) keeping
``--ratio`` of the patches. The memory bank holds ratio x images x patches-per-image rows of
384 numbers; every prediction compares each patch of the image with every row, so latency grows
linearly with the bank, and the greedy selection grows with patches x bank (quadratically in the
number of images). Up to ``--select-up-to`` images the selection really runs and is timed; beyond
it the bank is filled with a random sample of the same size (the latency is the same, and the
selection time is extrapolated from the largest timed run, marked "est.").

    python benchmarks/patchcore_scaling.py [--images 100,1000,5000] [--size 64] [--ratio 0.1]
"""

from __future__ import annotations

import argparse
import json
import time


def _images(n: int, size: int, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g) * 0.2 + 0.4
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2) < (size / 3) ** 2
    x[:, :, disc] = 0.6
    return (x - 0.45) / 0.226


def main() -> None:
    import torch

    from studio_desktop.core.task_settings import AnomalySettings
    from studio_desktop.ml.models.anomaly import build_anomaly_net
    from studio_desktop.ml.tasks.anomaly import fit_patchcore

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default="100,1000,5000")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--ratio", type=float, default=0.1)
    ap.add_argument("--select-up-to", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=50)
    args = ap.parse_args()
    settings = AnomalySettings(coreset_ratio=args.ratio)
    rows, timed = [], None
    for n in [int(v) for v in args.images.split(",")]:
        net = build_anomaly_net("patchcore_resnet18", input_size=args.size, settings=settings, pretrained=False,
                                weights_file=None, log=lambda m, lvl="info": None)
        net.train()
        t0 = time.perf_counter()
        with torch.no_grad():
            for start in range(0, n, args.batch):
                net(_images(min(args.batch, n - start), args.size, start))
        pass_s = time.perf_counter() - t0
        patches = sum(len(e) for e in net.inner.embedding_store)
        k = int(patches * args.ratio)
        t1 = time.perf_counter()
        if n <= args.select_up_to:
            fit_patchcore(net.inner, args.ratio, lambda *a: None, lambda: False, lambda *a, **k: None)
            select_s, note = time.perf_counter() - t1, ""
            timed = (patches, k, select_s)
        else:
            bank = torch.vstack(net.inner.embedding_store)
            net.inner.embedding_store.clear()
            net.inner.memory_bank = bank[torch.randperm(len(bank))[:k]]
            select_s = timed[2] * (patches * k) / (timed[0] * timed[1]) if timed else float("nan")
            note = " (est.)"
        net.eval()
        x = _images(1, args.size, 10**6)
        with torch.no_grad():
            net(x)
            t2 = time.perf_counter()
            for _ in range(5):
                net(x)
        latency_ms = (time.perf_counter() - t2) / 5 * 1000
        bank_mib = net.inner.memory_bank.numel() * 4 / 2**20
        row = {"images": n, "patches": patches, "bank_rows": k, "bank_mib": round(bank_mib, 1),
               "feature_pass_s": round(pass_s, 1), "coreset_s": round(select_s, 1), "estimated": bool(note),
               "predict_ms": round(latency_ms, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    base = rows[0]
    print(f"\nPatchCore ResNet-18, {args.size} px, coreset ratio {args.ratio}, {torch.get_num_threads()} threads")
    print("| images | memory bank | MiB | feature pass s | coreset s | predict ms/image (x first) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        est = " (est.)" if r["estimated"] else ""
        print(f"| {r['images']} | {r['bank_rows']:,} x 384 | {r['bank_mib']} | {r['feature_pass_s']} | "
              f"{r['coreset_s']}{est} | {r['predict_ms']} ({r['predict_ms'] / base['predict_ms']:.1f}x) |")


if __name__ == "__main__":
    main()
