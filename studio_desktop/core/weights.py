"""The weights store: where pretrained weights are cached, their state, download and import.

No torch (the GUI lists weights and their states with it). The table of what exists is
``weights_catalog.py``; this module knows where files live and what state they are in:

- Cache: torchvision weights live in torch hub's ``checkpoints`` folder (``$TORCH_HOME/hub/
  checkpoints``, else ``$XDG_CACHE_HOME/torch/...``, else ``~/.cache/torch/...``), under their
  official names, so files the user (or torchvision) already put there are found and files we
  download are found by torchvision too. A file imported for a model that is not an official
  file is kept beside them as ``<model>-imported-<sha256 prefix>.<ext>``.
- State of a file: ``ready`` (verified by its sha256, or, before that, the right size),
  ``missing``, ``corrupt`` (wrong size or checksum: delete and download again).
- Where a cached file came from (download URL, imported path) is noted in a small index
  (``ai-studio-weights.json`` in the same folder), so an experiment can record the source of
  the weights it started from.
- Mirror: ``STUDIO_WEIGHTS_MIRROR`` (environment; wins, so an administrator's setting cannot be
  overridden by accident) or the workspace's ``weights.json`` (the Weights dialog, ``studio
  weights mirror URL``): a base URL (or a folder) under which the same file names are served.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .download import Downloaded, Progress, download
from .errors import InvalidInput, StoreError
from .schemas import now
from .store import atomic_write_json, read_json
from .weights_catalog import (
    SHARED_WEIGHTS,
    WeightsInfo,
    default_weights,
    find_by_file_name,
    find_by_sha256,
    no_weights_reason,
    weights_of,
)

MIRROR_ENV = "STUDIO_WEIGHTS_MIRROR"
SETTINGS_FILE = "weights.json"
INDEX_FILE = "ai-studio-weights.json"
#: extensions an imported weights file may have
IMPORT_SUFFIXES = (".pth", ".pt", ".safetensors", ".ckpt", ".bin")

READY, MISSING, CORRUPT = "ready", "missing", "corrupt"


# --------------------------------------------------------------------------- where


def torch_hub_checkpoints() -> Path:
    """torch.hub's weights folder, found the way torch does, without importing torch."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "torch")
    return Path(home).expanduser() / "hub" / "checkpoints"


#: source -> its cache folder (a Hugging Face source adds its own here)
CACHE_FOLDERS: dict[str, Callable[[], Path]] = {"torchvision": torch_hub_checkpoints}


def cache_dir(source: str = "torchvision") -> Path:
    return CACHE_FOLDERS[source]()


def cached_path(w: WeightsInfo) -> Path:
    """Where the official file of ``w`` is (or would be) cached."""
    return cache_dir(w.source) / w.file_name


def imported_files(model: str, source: str = "torchvision") -> list[Path]:
    """Files imported for ``model`` that are not official ones, newest first."""
    folder = cache_dir(source)
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob(f"{model}-imported-*") if p.suffix in IMPORT_SUFFIXES and p.is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


# --------------------------------------------------------------------------- checksums

_SHA_MEMO: dict[tuple[str, int, int], str] = {}
_SHA_LOCK = threading.Lock()


def sha256_of(path: Path) -> str:
    """The file's sha256, remembered per (path, size, mtime) in this process (a 100 MB file
    takes ~0.1 s; the GUI asks again every time the dialog opens)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _SHA_LOCK:
        if key in _SHA_MEMO:
            return _SHA_MEMO[key]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    value = digest.hexdigest()
    with _SHA_LOCK:
        _SHA_MEMO[key] = value
    return value


def known_sha256(path: Path) -> str | None:
    """The remembered sha256 of ``path`` if it was computed for its current content."""
    try:
        st = path.stat()
    except OSError:
        return None
    with _SHA_LOCK:
        return _SHA_MEMO.get((str(path), st.st_size, st.st_mtime_ns))


def file_state(w: WeightsInfo, *, verify: bool = False) -> str:
    """``ready``, ``missing`` or ``corrupt`` for the official file of ``w``.

    Without ``verify`` only the size is checked (instant), unless the checksum is already
    known; with it the sha256 is computed (remembered afterwards)."""
    path = cached_path(w)
    try:
        size = path.stat().st_size
    except OSError:
        return MISSING
    if abs(size - w.approx_bytes) > 600:  # torchvision rounds sizes to 0.001 MiB (±524 bytes)
        return CORRUPT
    sha = sha256_of(path) if verify else known_sha256(path)
    if sha is not None and not sha.startswith(w.sha256_prefix):
        return CORRUPT
    return READY


# --------------------------------------------------------------------------- index of sources


def read_index(source: str = "torchvision") -> dict[str, dict]:
    """Cached file name -> where it came from (``origin``) and when it was added."""
    return _read_index_at(cache_dir(source))


def _read_index_at(folder: Path) -> dict[str, dict]:
    try:
        data = read_json(folder / INDEX_FILE)
    except StoreError:
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else {}


def _note_source(path: Path, **info) -> None:
    """Remember where a cached file came from (best effort: a lost note loses no weights).
    Notes of files that are gone are dropped at the same time."""
    files = _read_index_at(path.parent)
    if info:
        files[path.name] = {**info, "added": now().isoformat(timespec="seconds")}
    files = {k: v for k, v in files.items() if (path.parent / k).exists()}
    with contextlib.suppress(OSError):
        atomic_write_json(path.parent / INDEX_FILE, {"schema_version": 1, "files": files})


# --------------------------------------------------------------------------- state of a model


@dataclass(frozen=True)
class CachedFile:
    path: Path
    size: int
    #: the official entry this file is, or None for an imported file
    weights: WeightsInfo | None
    state: str
    #: where it came from (download URL, imported path), when known
    origin: str = ""


@dataclass(frozen=True)
class ModelWeights:
    """What one catalog model can start from, and what is on this computer."""

    model: str
    weights: tuple[WeightsInfo, ...]
    files: tuple[CachedFile, ...] = field(default_factory=tuple)

    @property
    def available(self) -> bool:
        """Whether the model has pretrained weights at all (the Tiny CNN has none)."""
        return bool(self.weights)

    @property
    def default(self) -> WeightsInfo | None:
        return default_weights(self.model)

    @property
    def in_use(self) -> CachedFile | None:
        """The file training starts from: an imported file (the user chose it for this model),
        else the first ready official file in the table's order (the default first)."""
        return next((f for f in self.files if f.state == READY), None)

    @property
    def state(self) -> str:
        """``ready`` | ``missing`` | ``corrupt`` | ``none`` (no pretrained weights exist)."""
        if not self.weights and not self.files:
            return "none"
        if self.in_use is not None:
            return READY
        return CORRUPT if self.files else MISSING

    @property
    def reason(self) -> str:
        return no_weights_reason(self.model) if not self.available else ""


def model_weights(model: str, *, verify: bool = False) -> ModelWeights:
    """The weights of ``model`` and the state of their files (``verify``: compute checksums)."""
    entries = weights_of(model)
    index = read_index()
    files: list[CachedFile] = []
    for path in imported_files(SHARED_WEIGHTS.get(model, model)):  # (an anomaly model: its backbone's)
        files.append(CachedFile(path, path.stat().st_size, None, READY,
                                str(index.get(path.name, {}).get("origin", ""))))
    for w in entries:
        path = cached_path(w)
        state = file_state(w, verify=verify)
        if state != MISSING:
            origin = str(index.get(path.name, {}).get("origin", "")) or f"{w.url} (found in the torch cache)"
            files.append(CachedFile(path, path.stat().st_size, w, state, origin))
    return ModelWeights(model, entries, tuple(files))


def weights_ready(model: str) -> bool:
    """Whether ``model`` can start from pretrained weights on this computer (instant check)."""
    return model_weights(model).state == READY


@dataclass(frozen=True)
class WeightsForTraining:
    """The file a training run starts from, and everything an experiment records about it."""

    model: str
    path: Path
    sha256: str
    #: the official entry (None: an imported or user-chosen file)
    weights: WeightsInfo | None
    origin: str
    #: True for the "Weights file" setting
    chosen_file: bool = False

    def record(self) -> dict:
        """What experiment.json's environment keeps about the weights."""
        w = self.weights
        expected = w or default_weights(self.model)
        return {"model": self.model, "file": str(self.path), "sha256": self.sha256, "origin": self.origin,
                "name": w.name if w else None, "title": w.title if w else "a file chosen or imported by the user",
                "source": w.source if w else "file",
                # a file of unknown origin is assumed to expect what the model's official weights expect
                "preprocessing": expected.preprocessing() if expected else None,
                "preprocessing_assumed": w is None}


def weights_for_training(model: str, weights_file: str | None = None) -> WeightsForTraining | None:
    """The weights a run of ``model`` starts from (None: none on this computer).

    ``weights_file`` (the setting) wins; else an imported file; else the official file. A
    damaged official file is refused with the way out, never silently used or skipped."""
    if weights_file:
        path = Path(weights_file).expanduser()
        if not path.is_file():
            raise InvalidInput("weights file not found", path=path,
                               hint="choose another file in the setting 'Weights file', or leave it empty")
        sha = sha256_of(path)
        return WeightsForTraining(model, path, sha, find_by_sha256(sha), f"weights file setting: {path}",
                                  chosen_file=True)
    status = model_weights(model)
    for f in status.files:
        sha = sha256_of(f.path)
        if f.weights is not None and not sha.startswith(f.weights.sha256_prefix):
            raise InvalidInput(f"the cached weights of {model} are damaged (checksum does not match)",
                               path=f.path, hint=f"delete them and download again: studio weights download {model}")
        if f.state == READY or f.weights is not None:
            return WeightsForTraining(model, f.path, sha, f.weights, f.origin)
    return None


# --------------------------------------------------------------------------- mirror


def saved_mirror(workspace_root: str | Path | None) -> str:
    if workspace_root is None:
        return ""
    try:
        data = read_json(Path(workspace_root) / SETTINGS_FILE)
    except StoreError:
        return ""
    return str(data.get("mirror") or "").strip() if isinstance(data, dict) else ""


def save_mirror(workspace_root: str | Path, mirror: str) -> None:
    mirror = normalise_mirror(mirror) if mirror.strip() else ""
    atomic_write_json(Path(workspace_root) / SETTINGS_FILE, {"schema_version": 1, "mirror": mirror})


def normalise_mirror(text: str) -> str:
    """A mirror as a base URL: http(s)://…, file://…, or a folder (made a file:// URL)."""
    text = text.strip()
    if not text:
        return ""
    if text.startswith(("http://", "https://", "file://")):
        return text.rstrip("/")
    path = Path(text).expanduser()
    if path.is_absolute():
        return path.as_uri()
    raise InvalidInput(f"the weights mirror '{text}' is neither an address (http://…, https://…, file://…) "
                       "nor a full folder path")


def effective_mirror(workspace_root: str | Path | None = None, override: str | None = None) -> tuple[str, str]:
    """(mirror base URL or "", where it comes from): ``override`` (``--mirror``) > the
    environment variable > the workspace setting."""
    if override:
        return normalise_mirror(override), "--mirror"
    env = os.environ.get(MIRROR_ENV, "").strip()
    if env:
        return normalise_mirror(env), MIRROR_ENV
    saved = saved_mirror(workspace_root)
    return (normalise_mirror(saved), "setting") if saved else ("", "")


def download_url(w: WeightsInfo, mirror: str = "") -> str:
    return f"{mirror.rstrip('/')}/{w.file_name}" if mirror else w.url


# --------------------------------------------------------------------------- download, import, delete


def download_weights(model: str, *, mirror: str = "", progress: Callable[[Progress], None] | None = None,
                     stop: Callable[[], bool] | None = None, **kw) -> Downloaded:
    """Download the default weights of ``model`` into the cache (verified; atomic)."""
    w = default_weights(model)
    if w is None:
        raise InvalidInput(f"{model}: {no_weights_reason(model)}")
    url = download_url(w, mirror)
    try:
        result = download(url, cached_path(w), sha256_prefix=w.sha256_prefix, progress=progress, stop=stop, **kw)
    except InvalidInput as exc:
        if mirror and "HTTP 404" in exc.message:
            raise InvalidInput(f"the mirror {mirror} has no {w.file_name} (HTTP 404)",
                               hint=f"copy the file there from {w.url}") from None
        raise
    _note_source(result.path, origin=url)
    with _SHA_LOCK:
        st = result.path.stat()
        _SHA_MEMO[(str(result.path), st.st_size, st.st_mtime_ns)] = result.sha256
    return result


def import_destination(model: str, sha256: str, suffix: str) -> tuple[Path, WeightsInfo | None]:
    """Where a file with this checksum is kept for ``model`` (its official name when it is
    the official file) and the official entry it is."""
    official = find_by_sha256(sha256)
    if official is not None:
        if official.model != model:
            raise InvalidInput(f"this is the official file of {official.model} ({official.file_name}), "
                               f"not of {model}", hint=f"import it for {official.model}")
        return cached_path(official), official
    entries = weights_of(model)
    source = entries[0].source if entries else "torchvision"
    return cache_dir(source) / f"{model}-imported-{sha256[:8]}{suffix.lower()}", None


def add_to_cache(model: str, src: Path, sha256: str) -> Path:
    """Copy a checked file into the cache (temporary file + rename; the original stays)."""
    import shutil

    dest, _ = import_destination(model, sha256, src.suffix)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.import.part"
    try:
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if sha256_of(tmp) != sha256:
            raise InvalidInput("the file changed while it was imported; import it again", path=src)
        os.replace(tmp, dest)
    except OSError as exc:
        raise InvalidInput(f"cannot copy it into the weights cache: {exc.strerror or exc}", path=dest.parent) \
            from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    _note_source(dest, origin=f"imported from {src}")
    return dest


def delete_weights(model: str) -> list[Path]:
    """Remove every cached file of ``model`` (official and imported); the removed paths."""
    removed = []
    for f in model_weights(model).files:
        with contextlib.suppress(FileNotFoundError):
            f.path.unlink()
            removed.append(f.path)
    if removed:
        _note_source(removed[0])  # drops the notes of the removed files
    return removed


def weights_jobs_folder(workspace_root: str | Path, model: str, kind: str = "download") -> Path:
    """The job folder (events.jsonl, download.log) of a download or an import for ``model``."""
    return Path(workspace_root) / "jobs" / (f"weights-{model}" if kind == "download" else f"weights-{model}-{kind}")


def catalog_models(tasks: tuple[str, ...] | None = None) -> list[str]:
    """Catalog model names (each once) of the trainable tasks, or of ``tasks``."""
    from ..tasks import TASKS
    from .train_config import MODEL_CATALOG

    chosen = tasks or tuple(t for t, info in TASKS.items() if info.trainable)
    names: list[str] = []
    for task in chosen:
        for m in MODEL_CATALOG.get(task, []):
            if m.name not in names:
                names.append(m.name)
    return names


__all__ = ["CORRUPT", "CachedFile", "IMPORT_SUFFIXES", "MIRROR_ENV", "MISSING", "ModelWeights", "READY",
           "WeightsForTraining", "add_to_cache", "cache_dir", "cached_path", "catalog_models", "delete_weights",
           "download_url", "download_weights", "effective_mirror", "file_state", "import_destination",
           "imported_files", "model_weights", "normalise_mirror", "read_index", "save_mirror", "saved_mirror",
           "sha256_of", "torch_hub_checkpoints", "weights_for_training", "weights_jobs_folder", "weights_ready",
           "default_weights", "find_by_file_name"]
