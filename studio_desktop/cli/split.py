"""``studio split create|list|show|delete``: the Split page, headless."""

from __future__ import annotations

import sys

from ..core.datasets import DatasetStore
from ..core.errors import InvalidInput
from ..core.projects import ProjectService
from ..core.splits import ANOMALY_MODES, GROUP_KEYS, STRATEGIES, Split, SplitPlan, SplitService
from .common import open_workspace, print_json


def register(sub) -> None:
    p = sub.add_parser("split", help="make train/val/test splits (stratified, immutable once saved)")
    psub = p.add_subparsers(dest="action", metavar="ACTION")
    psub.required = True

    c = psub.add_parser("create", help="compute a split and save it (or only preview it)")
    c.add_argument("project", help="project name or id")
    c.add_argument("--name", help="split name (default: 'split N')")
    c.add_argument("--ratios", nargs="+", type=float, default=[0.8, 0.1, 0.1], metavar="R",
                   help="train val [test] fractions, each > 0, summing to 1 (default 0.8 0.1 0.1)")
    c.add_argument("--seed", type=int, default=0, help="random seed: same seed, same split (default 0)")
    c.add_argument("--strategy", choices=STRATEGIES, default="auto",
                   help="auto/stratified: balance classes across subsets; random: ignore classes")
    c.add_argument("--anomaly-mode", choices=ANOMALY_MODES, default=None,
                   help="anomaly detection: 'supervised' puts anomalous images in every subset; "
                        "'normal-only' trains on normal images only (default supervised)")
    c.add_argument("--group-by", choices=list(GROUP_KEYS), default="group",
                   help="keep together images with the same group, the same source file, or the same "
                        "origin (augmented copies and tiles of one image); duplicates always stay together")
    c.add_argument("--preview", action="store_true", help="print the plan; save nothing")
    c.add_argument("--json", action="store_true", help="print JSON")
    c.set_defaults(func=_create)

    ls = psub.add_parser("list", help="list the project's splits")
    ls.add_argument("project", help="project name or id")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=_list)

    s = psub.add_parser("show", help="show one split")
    s.add_argument("project", help="project name or id")
    s.add_argument("split", help="split name or id")
    s.add_argument("--json", action="store_true", help="print JSON (with the assignments)")
    s.set_defaults(func=_show)

    d = psub.add_parser("delete", help="delete a split no experiment uses")
    d.add_argument("project", help="project name or id")
    d.add_argument("split", help="split name or id")
    d.add_argument("--yes", action="store_true", help="confirm the deletion (required)")
    d.add_argument("--json", action="store_true", help="print JSON")
    d.set_defaults(func=_delete)


def _table(stats: dict, strata_names: dict[str, str]) -> list[str]:
    subsets = list(stats)
    lines = ["  " + f"{'':<24}" + "".join(f"{s:>10}" for s in subsets),
             "  " + f"{'images':<24}" + "".join(f"{stats[s]['images']:>10}" for s in subsets)]
    for key, name in strata_names.items():
        lines.append("  " + f"{name[:24]:<24}"
                     + "".join(f"{stats[s]['classes'].get(key, 0):>10}" for s in subsets))
    return lines


def _print_plan(title: str, plan: SplitPlan | Split) -> None:
    ratios = " / ".join(f"{s} {r:.0%}" for s, r in plan.ratios.items())
    print(f"{title}: {ratios}, seed {plan.seed}, {plan.method}")
    stats = {s: v.model_dump() for s, v in plan.stats.items()}
    print("\n".join(_table(stats, plan.strata_names)))
    for w in plan.warnings:
        print(f"warning: {w}", file=sys.stderr)


def _services(ws, ref: str):
    project = ProjectService(ws).get(ref)
    return project, SplitService(ws, project.id), DatasetStore(ws, project.id)


def _summary(split: Split, svc: SplitService, dataset) -> dict:
    return {"id": split.id, "name": split.name, "created": split.created.isoformat(), "seed": split.seed,
            "ratios": split.ratios, "strategy": split.strategy, "method": split.method,
            "anomaly_mode": split.anomaly_mode, "group_by": split.group_by,
            "images": {s: v.images for s, v in split.stats.items()},
            "image_count": split.image_count, "dataset_fingerprint": split.dataset_fingerprint,
            "not_in_split": len(svc.not_in_split(split, dataset)),
            "missing_from_dataset": len(svc.missing_from_dataset(split, dataset)),
            "experiments": [e.id for e in svc.experiments_using(split.id)]}


def _create(args) -> int:
    with open_workspace(args, write=not args.preview) as ws:
        project, svc, store = _services(ws, args.project)
        plan = svc.plan(project, store.load(), ratios=args.ratios, seed=args.seed, strategy=args.strategy,
                        anomaly_mode=args.anomaly_mode, group_by=args.group_by)
        if args.preview:
            if args.json:
                print_json({"preview": True, **plan.as_json()})
            else:
                _print_plan("preview (not saved)", plan)
            return 0
        split = svc.create(args.name, plan)
    if args.json:
        print_json({"id": split.id, "name": split.name, **plan.as_json()})
    else:
        _print_plan(f"saved split '{split.name}' (id {split.id})", split)
    return 0


def _list(args) -> int:
    with open_workspace(args, write=False) as ws:
        _, svc, store = _services(ws, args.project)
        splits, problems = svc.scan()
        dataset = store.load()
        rows = [_summary(s, svc, dataset) for s in splits]
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if args.json:
        print_json({"splits": rows, "problems": problems})
        return 0
    if not rows:
        print("no splits yet: make one with 'studio split create PROJECT'")
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        counts = " ".join(f"{s} {n}" for s, n in r["images"].items())
        extra = f", {r['not_in_split']} not in split" if r["not_in_split"] else ""
        print(f"{r['id']}  {r['name']:<{width}}  {counts}  seed {r['seed']}  "
              f"{len(r['experiments'])} experiment(s){extra}")
    return 0


def _show(args) -> int:
    with open_workspace(args, write=False) as ws:
        _, svc, store = _services(ws, args.project)
        split = svc.get(args.split)
        summary = _summary(split, svc, store.load())
    if args.json:
        print_json({**summary, "stats": {s: v.model_dump() for s, v in split.stats.items()},
                    "strata_names": split.strata_names, "warnings": split.warnings,
                    "assignments": split.assignments})
        return 0
    _print_plan(f"split '{split.name}' (id {split.id}, created {split.created:%Y-%m-%d %H:%M})", split)
    print(f"  used by {len(summary['experiments'])} experiment(s); "
          f"{summary['not_in_split']} image(s) not in split")
    return 0


def _delete(args) -> int:
    if not args.yes:
        raise InvalidInput(f"deleting split '{args.split}' cannot be undone; add --yes to confirm")
    with open_workspace(args, write=True) as ws:
        _, svc, _ = _services(ws, args.project)
        split = svc.delete(args.split)
    if args.json:
        print_json({"deleted": split.id, "name": split.name})
    else:
        print(f"deleted split '{split.name}' (id {split.id})")
    return 0
