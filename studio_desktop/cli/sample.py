"""``studio sample --task TASK OUT_DIR``: write a procedural sample dataset (DESIGN §7)."""

from __future__ import annotations

from pathlib import Path

from ..core.samples import write_sample
from ..tasks import TASKS
from .common import print_json


def register(sub) -> None:
    p = sub.add_parser("sample", help="write a procedural sample dataset in a task's native format")
    p.add_argument("--task", required=True, choices=list(TASKS), help="which task the sample is for")
    p.add_argument("out_dir", type=Path, help="new (or empty) folder to write into")
    p.add_argument("--images", type=int, default=None, help="number of images (default: per task)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same images)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_sample)


def _sample(args) -> int:
    out = write_sample(args.task, args.out_dir, images=args.images, seed=args.seed)
    files = sum(1 for p in out.rglob("*") if p.is_file())
    if args.json:
        print_json({"task": args.task, "folder": str(out), "files": files})
    else:
        print(f"wrote a {TASKS[args.task].display_name.lower()} sample ({files} files) to {out}")
    return 0
