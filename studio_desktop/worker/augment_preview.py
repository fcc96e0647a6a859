"""``worker augment-preview``: real training images through the config's augmentations, as PNGs.

The Training page cannot import torch, so it asks this job for a grid of previews whenever
the augmentation list changes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from ..core.datasets import DatasetStore
from ..core.errors import InvalidInput
from ..core.experiments import resolve_split
from ..core.projects import ProjectService
from ..core.protocol import Emitter
from ..core.train_config import validate_config
from ..core.workspace import Workspace


def _config(text: str, task: str):
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot read the config: {exc.strerror}", path=path) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"--config-json is not valid JSON: {exc}") from None
    return validate_config(data, task)


def add_arguments(a) -> None:
    a.add_argument("project", help="project name or id")
    a.add_argument("--config-json", required=True, help="a TrainConfig as JSON, or @FILE")
    a.add_argument("--out", required=True, help="folder for the PNG files")
    a.add_argument("--n", type=int, default=8, help="number of images")
    a.add_argument("--seed", type=int, default=0, help="random seed")


def run_job(args) -> int:
    import torch
    from torchvision.io import write_png
    from torchvision.transforms import v2

    from ..ml.augment import denormalize
    from ..ml.data import Detail, decode, shrink
    from ..ml.tasks import make_head

    ws = Workspace.open(getattr(args, "workspace", None), lock=False)
    try:
        project = ProjectService(ws).get(args.project)
        cfg = _config(args.config_json, project.task)
        store = DatasetStore(ws, project.id)
        images = store.load().images
        try:
            _, assignments = resolve_split(ws, project.id, cfg.split_id)
            train = [r for r in images if assignments.get(r.id) == "train"] or images
        except InvalidInput:
            train = images  # no split yet: preview on any image of the dataset
        # the task head's own pipeline: a detector's boxes move with the image and are drawn
        head = make_head(project, cfg)
        head.root = store.root  # (a segmentation head reads the masks from it)
        train = [r for r in train if head.usable(r)] or train
        if not train:
            raise InvalidInput(f"project '{project.name}' has no images to preview")
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        emitter = Emitter()
        rng = random.Random(args.seed)
        torch.manual_seed(args.seed)
        transform = head.transforms(train=True)
        detail = head.detail() or Detail(cfg.input_size, head.zooms())  # exactly what training decodes
        for i in range(max(0, args.n)):
            rec = rng.choice(train)
            img = shrink(decode(store.path_of(rec.file), detail), detail)
            target = head.target(rec) if head.usable(rec) else None
            aug, target = head.sample(transform, v2.functional.to_image(img), target, rec)
            png = head.draw_target((denormalize(aug) * 255).round().to(torch.uint8), target)
            path = out / f"preview_{i:02d}.png"
            write_png(png, str(path))
            emitter.emit("artifact", kind="augment_preview", path=str(path), image=rec.id)
        emitter.emit("completed", summary={"images": max(0, args.n), "folder": str(out)})
        return 0
    finally:
        ws.close()
