"""``studio weights``: list, download, import and delete pretrained weights; set a mirror.

``list`` and ``download`` never import torch (``download`` streams in the foreground with a
text progress bar; Ctrl+C cancels and keeps nothing). ``import`` loads the file to check it
fits the architecture, so it imports torch.
"""

from __future__ import annotations

import sys
import time

from ..core.download import Progress, mb
from ..core.errors import InvalidInput
from ..core.weights import (
    catalog_models,
    delete_weights,
    download_weights,
    effective_mirror,
    file_state,
    model_weights,
    save_mirror,
    saved_mirror,
)
from ..core.weights_catalog import default_weights
from ..core.workspace import resolve_workspace_dir
from .common import open_workspace, print_json


def register(sub) -> None:
    p = sub.add_parser("weights", help="pretrained weights: list, download, import, delete",
                       description="Pretrained weights, downloaded once into the torch cache (or imported from "
                                   "a file on air-gapped computers) and used by every experiment.")
    ws = p.add_subparsers(dest="weights_command", metavar="ACTION")
    ws.required = True
    a = ws.add_parser("list", help="every model with its weights, size and state")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.add_argument("--quick", action="store_true", help="check sizes only, not checksums")
    a.set_defaults(func=_list)
    d = ws.add_parser("download", help="download weights (progress; Ctrl+C cancels)")
    d.add_argument("models", nargs="*", metavar="MODEL", help="model names (see `studio weights list`)")
    d.add_argument("--all", action="store_true", help="every model that has weights and lacks them")
    d.add_argument("--mirror", help="base URL or folder serving the same file names (overrides "
                                    "$STUDIO_WEIGHTS_MIRROR and the workspace setting)")
    d.add_argument("--json", action="store_true", help="print the result as JSON")
    d.set_defaults(func=_download)
    i = ws.add_parser("import", help="check a weights file for a model and copy it into the cache")
    i.add_argument("model", help="model name, e.g. resnet18")
    i.add_argument("file", help="a .pth / .pt / .safetensors file")
    i.add_argument("--json", action="store_true", help="print the result as JSON")
    i.set_defaults(func=_import)
    r = ws.add_parser("delete", help="remove a model's cached weights")
    r.add_argument("models", nargs="+", metavar="MODEL")
    r.set_defaults(func=_delete)
    m = ws.add_parser("mirror", help="show or set the workspace's weights mirror")
    m.add_argument("url", nargs="?", help="base URL (http://, https://, file://) or folder; omit to show")
    m.add_argument("--clear", action="store_true", help="remove the setting")
    m.set_defaults(func=_mirror)


def _known(model: str) -> str:
    models = catalog_models()
    if model not in models:
        raise InvalidInput(f"'{model}' is not a model of the catalog; choose one of: {', '.join(models)}")
    return model


def _rows(verify: bool) -> list[dict]:
    rows = []
    for model in catalog_models():
        status = model_weights(model, verify=verify)
        w = status.default
        used = status.in_use
        rows.append({"model": model, "state": status.state, "weights": w.name if w else None,
                     "title": w.title if w else status.reason, "file": str(used.path) if used else None,
                     "official_file": w.file_name if w else None, "size_bytes": w.approx_bytes if w else None,
                     "sha256_prefix": w.sha256_prefix if w else None, "url": w.url if w else None,
                     "licence": w.licence if w else None, "origin": used.origin if used else None,
                     "imported": bool(used and used.weights is None),
                     "preprocessing": w.preprocessing() if w else None})
    return rows


def _list(args) -> int:
    rows = _rows(verify=not args.quick)
    if args.json:
        print_json(rows)
        return 0
    label = {"ready": "ready", "missing": "not downloaded", "corrupt": "DAMAGED (delete, download again)",
             "none": "no pretrained weights"}
    print(f"{'model':20s} {'size':>9s}  {'state':22s} weights")
    for r in rows:
        size = mb(r["size_bytes"]) if r["size_bytes"] else ""
        state = label.get(r["state"], r["state"]) + (" (imported)" if r["imported"] else "")
        print(f"{r['model']:20s} {size:>9s}  {state:22s} {r['title']}")
    mirror, where = effective_mirror(resolve_workspace_dir(getattr(args, "workspace", None)))
    print(f"\ncache: {_cache()}" + (f"\nmirror: {mirror} ({where})" if mirror else ""))
    return 0


def _cache() -> str:
    from ..core.weights import cache_dir

    return str(cache_dir())


class _Bar:
    """One line of progress on stderr (redrawn in a terminal, a line every few seconds else)."""

    def __init__(self, model: str):
        self.model = model
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < 3 and p.done != p.total:
            return
        self.last = now
        frac = p.fraction
        bar = ("#" * int(24 * frac)).ljust(24, ".") if frac is not None else "?" * 24
        pct = f"{100 * frac:3.0f}%" if frac is not None else "  ?%"
        eta = f"  {p.eta_s:.0f} s left" if p.eta_s is not None and p.done != p.total else ""
        of = f"/{mb(p.total)}" if p.total else ""
        text = f"{self.model:20s} [{bar}] {pct} {mb(p.done)}{of}  {p.rate / 1e6:.1f} MB/s{eta}"
        sys.stderr.write(("\r" + text.ljust(100)) if self.tty else text + "\n")
        sys.stderr.flush()

    def end(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def _download(args) -> int:
    models = [_known(m) for m in args.models]
    if args.all:
        models += [m for m in catalog_models() if default_weights(m) and m not in models]
    if not models:
        raise InvalidInput("name the models to download (see `studio weights list`), or pass --all")
    mirror, where = effective_mirror(resolve_workspace_dir(getattr(args, "workspace", None)), args.mirror)
    if mirror:
        print(f"from the mirror {mirror} ({where})", file=sys.stderr)
    results = []
    for model in models:
        w = default_weights(model)
        if w is None:
            raise InvalidInput(f"{model}: {model_weights(model).reason}")
        if file_state(w, verify=True) == "ready":
            print(f"{model}: already downloaded ({w.file_name})", file=sys.stderr)
            results.append({"model": model, "path": None, "skipped": True})
            continue
        bar = _Bar(model)
        try:
            result = download_weights(model, mirror=mirror, progress=bar)
        finally:
            bar.end()
        print(f"{model}: {mb(result.size)} in {result.seconds:.1f} s, checksum verified -> {result.path}",
              file=sys.stderr)
        results.append({"model": model, "path": str(result.path), "sha256": result.sha256, "url": result.url,
                        "bytes": result.size})
    if args.json:
        print_json(results)
    return 0


def _import(args) -> int:
    _known(args.model)
    from ..ml.models.weights import import_weights  # torch loads only now

    result = import_weights(args.model, args.file)
    if args.json:
        print_json(result)
    else:
        what = f"the official {result['official']} weights" if result["official"] else "weights"
        head = " (its last layer differs: it is trained anew, as usual)" if result["head_differs"] else ""
        print(f"{args.model}: {what} imported ({result['tensors']} tensors fit{head}) -> {result['path']}")
    return 0


def _delete(args) -> int:
    for model in args.models:
        removed = delete_weights(_known(model))
        print(f"{model}: " + (", ".join(str(p) for p in removed) + " deleted" if removed else "nothing cached"))
    return 0


def _mirror(args) -> int:
    if args.url is None and not args.clear:
        root = resolve_workspace_dir(getattr(args, "workspace", None))
        mirror, where = effective_mirror(root)
        saved = saved_mirror(root)
        print(f"{mirror} ({where})" if mirror else "no mirror: weights come from their official addresses")
        if saved and where != "setting":
            print(f"(the workspace setting {saved} is overridden)")
        return 0
    with open_workspace(args, write=True) as ws:
        save_mirror(ws.root, "" if args.clear else args.url)
        print(f"weights mirror: {saved_mirror(ws.root) or 'none'}")
    return 0
