"""Safe ZIP extraction for imports (zip-slip, symlinks and zip bombs refused).

A ZIP is extracted into the import's staging folder before anything else happens, so the
readers only ever see a plain folder. Every member is checked first and the whole archive
is refused, naming the offending member, when one of them could write outside the staging
folder (absolute path, ``..``, drive letter), is a symbolic link, or would expand to far more
than the archive's size (a zip bomb). Sizes are counted while extracting, not taken from the
(forgeable) header.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import InvalidInput

#: the most an import archive may expand to in total
MAX_TOTAL_BYTES = 20 * 1024**3
#: a member expanding more than this many times its compressed size is a bomb
MAX_RATIO = 200
#: ratios are only checked above this size (tiny text files compress very well)
RATIO_MIN_BYTES = 1024 * 1024
MAX_MEMBERS = 1_000_000
_SKIP_PREFIXES = ("__MACOSX/",)


def _check_member(zip_path: Path, info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The safe relative path of ``info``, None for folders and junk; raise if unsafe."""
    name = info.filename.replace("\\", "/")
    if name.startswith(_SKIP_PREFIXES) or name.endswith("/"):
        return None
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise InvalidInput(f"refused: member '{info.filename}' is a symbolic link", path=zip_path)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise InvalidInput(f"refused: member '{info.filename}' has an absolute path", path=zip_path)
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise InvalidInput(f"refused: member '{info.filename}' points outside the archive ('..')",
                           path=zip_path)
    if (info.file_size > RATIO_MIN_BYTES
            and info.file_size > MAX_RATIO * max(1, info.compress_size)):
        raise InvalidInput(f"refused: member '{info.filename}' expands {info.file_size:,} bytes from "
                           f"{info.compress_size:,} (a zip bomb?)", path=zip_path)
    return PurePosixPath(*parts)


def safe_extract(zip_path: Path, dest: Path, *, max_total: int = MAX_TOTAL_BYTES) -> Path:
    """Extract ``zip_path`` into ``dest`` (created) and return the folder to read.

    When the archive holds a single top-level folder, that folder is returned, so that
    ``dataset.zip`` containing ``dataset/...`` reads like the folder itself.
    """
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput(f"is not a readable ZIP archive ({exc})", path=zip_path) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise InvalidInput(f"refused: {len(infos):,} members is more than {MAX_MEMBERS:,}", path=zip_path)
        planned = [(info, _check_member(zip_path, info)) for info in infos]
        if sum(info.file_size for info, rel in planned if rel is not None) > max_total:
            raise InvalidInput(f"refused: would expand to more than {max_total:,} bytes", path=zip_path)
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        total = 0
        for info, rel in planned:
            if rel is None:
                continue
            target = (dest / rel).resolve()
            if root not in target.parents:
                raise InvalidInput(f"refused: member '{info.filename}' points outside the archive",
                                   path=zip_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(1 << 20):
                        total += len(chunk)
                        if total > max_total:
                            raise InvalidInput(f"refused: expands to more than {max_total:,} bytes "
                                               "(a zip bomb?)", path=zip_path)
                        out.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                raise InvalidInput(f"member '{info.filename}' cannot be extracted ({exc})",
                                   path=zip_path) from None
    entries = [p for p in dest.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return dest


def is_zip(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".zip"


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
