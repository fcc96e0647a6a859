"""Pretrained weights, torch side: read a weights file safely, check that it fits an
architecture (or say which one it seems to be for), and load it into a network.

Where files are and which file a run uses is the core store's business
(``core/weights.py``); this module never downloads (torchvision would, and hang or fail
without internet): a missing file means training from scratch, said clearly in the log.
Files are read with ``torch.load(weights_only=True)`` (no pickled code runs) or with
safetensors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import torch
from torch import nn

from ...core.errors import InvalidInput
from ...core.weights import WeightsForTraining, weights_for_training
from ...core.weights_catalog import weights_of

NOT_OFFLINE = "pretrained weights not available offline — training from scratch"
#: containers other tools wrap a state dict in (Lightning, timm and training scripts)
_CONTAINERS = ("state_dict", "model_state_dict", "model", "module", "net", "weights")
#: prefixes such wrappers add to every tensor name (DataParallel, Lightning modules)
_PREFIXES = ("module.", "model.", "_orig_mod.")


# --------------------------------------------------------------------------- reading


def read_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.pth`` / ``.pt`` / ``.ckpt`` / ``.safetensors`` file, by name.

    Containers (``{"state_dict": ...}``, ``{"model": ...}``) are unwrapped and wrapper prefixes
    (``module.``, ``model.``) removed. Anything else is refused with one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput("weights file not found", path=path)
    if path.suffix.lower() == ".safetensors":
        try:
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        except Exception as exc:  # noqa: BLE001 - any unreadable file gets one clear message
            raise InvalidInput(f"cannot read this safetensors file: {_first_line(exc)}", path=path) from None
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise _unreadable(exc, path) from None
    return _tensors(state, path)


def _unreadable(exc: Exception, path: Path) -> InvalidInput:
    """torch.load's long messages as one line: a pickled object (code would run to load it),
    a pickle torch cannot read safely, or a damaged / foreign file."""
    text = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return InvalidInput(f"holds a pickled Python object ({found.group(1)}: a whole model or training state, "
                            "not just its weights), which is not loaded for safety", path=path,
                            hint="save model.state_dict() with torch.save and import that file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        head = b""
    if head[:1] == b"\x80":  # a pickle's first opcode (PROTO)
        return InvalidInput("is a Python pickle that is not a PyTorch weights file (it cannot be read safely)",
                            path=path, hint="save model.state_dict() with torch.save and import that file")
    if head != b"PK\x03\x04":  # torch.save writes a zip archive
        return InvalidInput("cannot read the weights file: it is neither a PyTorch file nor safetensors", path=path)
    return InvalidInput(f"cannot read the weights file: {_first_line(exc)}", path=path)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def _tensors(state, path: Path) -> dict[str, torch.Tensor]:
    for _ in range(3):  # {"state_dict": {...}}, {"model": {"state_dict": ...}}
        if isinstance(state, dict) and not any(isinstance(v, torch.Tensor) for v in state.values()):
            inner = next((state[k] for k in _CONTAINERS if isinstance(state.get(k), dict)), None)
            if inner is None:
                break
            state = inner
    if not isinstance(state, dict):
        raise InvalidInput(f"is not a PyTorch state dict (it holds a {type(state).__name__})", path=path,
                           hint="a weights file maps tensor names to tensors: torch.save(model.state_dict(), FILE)")
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise InvalidInput("holds no tensors: it is not a weights file", path=path)
    for prefix in _PREFIXES:  # (a Lightning checkpoint may hold a few tensors beside its model's)
        inside = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if inside and len(inside) >= 0.9 * len(tensors):
            tensors = inside
    return tensors


# --------------------------------------------------------------------------- fitting


def build_architecture(arch: str) -> nn.Module:
    """The catalog network ``arch`` with its original head (1000 ImageNet classes), untrained."""
    from .classification import TORCHVISION, TinyCNN

    if arch == "tiny_cnn":
        return TinyCNN(10)
    if arch in TORCHVISION:
        import torchvision.models as tvm

        return tvm.get_model(arch, weights=None)
    raise InvalidInput(f"'{arch}' is not a model of the catalog")


@cache
def architecture_shapes(arch: str) -> tuple[dict[str, tuple[int, ...]], frozenset[str]]:
    """(tensor name -> shape, names of the last linear layer) of ``arch``; built on the meta
    device, so all catalog architectures take ~0.5 s together and no memory."""
    with torch.device("meta"):
        model = build_architecture(arch)
    head = next((name for name, m in reversed(list(model.named_modules())) if isinstance(m, nn.Linear)), "")
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    return shapes, frozenset(k for k in shapes if head and k.startswith(head + "."))


@dataclass
class Fit:
    """How well a file's tensors fit an architecture."""

    arch: str
    matched: int = 0
    expected: int = 0
    missing: list[str] = field(default_factory=list)
    wrong_shape: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    #: the last layer differs (another number of classes): it is trained anew, as usual
    head_differs: bool = False

    @property
    def fits(self) -> bool:
        return not self.missing and not self.wrong_shape and not self.extra

    @property
    def score(self) -> float:
        return self.matched / max(1, self.expected + len(self.extra))

    def problem(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} tensor(s) missing (e.g. {self.missing[0]})")
        if self.wrong_shape:
            parts.append(f"{len(self.wrong_shape)} of another shape (e.g. {self.wrong_shape[0]})")
        if self.extra:
            parts.append(f"{len(self.extra)} unknown (e.g. {self.extra[0]})")
        return ", ".join(parts)


def check_fit(state: dict[str, torch.Tensor], arch: str) -> Fit:
    """Compare names and shapes; the last layer may have another size (a file fine-tuned for
    other classes is still a good start: that layer is replaced anyway)."""
    shapes, head = architecture_shapes(arch)
    fit = Fit(arch, expected=len(shapes))
    given = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    for name, shape in shapes.items():
        if name not in given:
            if name in head:
                fit.head_differs = True
            else:
                fit.missing.append(name)
        elif tuple(given[name].shape) != shape:
            if name in head:
                fit.head_differs = True
            else:
                fit.wrong_shape.append(name)
        else:
            fit.matched += 1
    fit.extra = [k for k in given if k not in shapes]
    return fit


def catalog_architectures() -> list[str]:
    from .classification import TORCHVISION

    return ["tiny_cnn", *TORCHVISION]


def guess_architecture(state: dict[str, torch.Tensor]) -> list[Fit]:
    """Every catalog architecture's fit, best first."""
    return sorted((check_fit(state, a) for a in catalog_architectures()), key=lambda f: (-f.fits, -f.score))


def check_weights_file(path: str | Path, arch: str) -> tuple[dict[str, torch.Tensor], Fit]:
    """Read ``path`` and check it fits ``arch``; else say which architecture it seems to be for."""
    path = Path(path)
    state = read_weights_file(path)
    fit = check_fit(state, arch)
    if fit.fits:
        return state, fit
    best = next((f for f in guess_architecture(state) if f.fits), None)
    if best is not None:
        raise InvalidInput(f"these weights are for {best.arch}, not {arch} (all {best.matched} tensors of "
                           f"{best.arch} match)", path=path, hint=f"import it for {best.arch}")
    closest = guess_architecture(state)[0]
    raise InvalidInput(f"these weights do not fit {arch}: {fit.problem()}; they match no model of the catalog "
                       f"(closest: {closest.arch}, {closest.matched} of {closest.expected} tensors)", path=path)


# --------------------------------------------------------------------------- loading


def load_pretrained(model: nn.Module, arch: str, weights_file: str | None,
                    log: Callable[[str, str], None]) -> dict | None:
    """Load the pretrained (or user) weights of ``arch`` into ``model`` where shapes match.

    The classification head usually differs (1000 ImageNet classes vs the project's): those
    tensors are skipped and stay randomly initialised. Returns what experiment.json records
    about the weights (file, sha256, origin, preprocessing), or None (after a warning) when
    there are none on this computer."""
    chosen = weights_for_training(arch, weights_file)
    if chosen is None:
        if weights_of(arch):
            log(f"{NOT_OFFLINE} (get them with `studio weights download {arch}` or the Weights dialog)", "warning")
        return None
    _check_normalisation(chosen)
    state = read_weights_file(chosen.path)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise InvalidInput(f"no tensor of this file fits the {arch} model (is it for another architecture?)",
                           path=chosen.path)
    model.load_state_dict(usable, strict=False)
    skipped = len(own) - len(usable)
    what = chosen.weights.title if chosen.weights else "weights"
    log(f"loaded pretrained weights from {chosen.path} ({what}; sha256 {chosen.sha256[:12]}; source: "
        f"{chosen.origin}; {len(usable)} tensors, {skipped} new, e.g. the head)", "info")
    return chosen.record()


def _check_normalisation(chosen: WeightsForTraining) -> None:
    """The input pipeline normalises with ImageNet's mean and std (``ml/augment.py``); weights
    that expect anything else must not be fed wrongly normalised images."""
    from ..augment import IMAGENET_MEAN, IMAGENET_STD

    w = chosen.weights
    if w is not None and (tuple(w.mean) != tuple(IMAGENET_MEAN) or tuple(w.std) != tuple(IMAGENET_STD)):
        raise InvalidInput(f"the weights {w.name} of {w.model} expect mean {list(w.mean)} and std {list(w.std)}, "
                           "which this version's input pipeline does not apply", path=chosen.path)


# --------------------------------------------------------------------------- import


def import_weights(model: str, path: str | Path) -> dict:
    """Check a weights file for ``model`` and copy it into the weights cache.

    It must load safely and its tensor names and shapes must match the architecture (the last
    layer may differ); otherwise the error says which architecture it seems to be for. Returns
    where it was stored and what it is."""
    from ...core.weights import IMPORT_SUFFIXES, add_to_cache, sha256_of
    from ...core.weights_catalog import find_by_sha256

    known = catalog_architectures()
    if model not in known:
        raise InvalidInput(f"'{model}' is not a model of the catalog; choose one of: {', '.join(known)}")
    path = Path(path).expanduser()
    if path.suffix.lower() not in IMPORT_SUFFIXES:
        raise InvalidInput(f"is not a weights file ({', '.join(IMPORT_SUFFIXES)})", path=path)
    _, fit = check_weights_file(path, model)
    sha = sha256_of(path)
    dest = add_to_cache(model, path, sha)
    official = find_by_sha256(sha)
    return {"model": model, "path": str(dest), "sha256": sha, "official": official.name if official else None,
            "tensors": fit.matched, "head_differs": fit.head_differs, "source": str(path)}


__all__ = ["Fit", "NOT_OFFLINE", "architecture_shapes", "check_fit", "check_weights_file", "guess_architecture",
           "import_weights",
           "load_pretrained", "read_weights_file"]
