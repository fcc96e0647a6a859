"""Locate, create and lock a workspace (DESIGN §4).

The workspace folder is chosen by ``--workspace DIR``, else ``$STUDIO_WORKSPACE``, else the
platform's app-data folder. One OS-level lock per workspace (``.lock``, via filelock) lets
only one AI Studio write at a time; a second instance opens it read-only and is told who
holds it. The OS releases the lock when its holder dies, so a lock left by a crashed
process never blocks anyone: the next opener simply takes it (a stale lock is recovered).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from filelock import FileLock, Timeout

from .. import __version__
from .errors import StoreError, WorkspaceLocked
from .schemas import WorkspaceInfo
from .store import atomic_write_json, read_json, read_model, write_model

ENV_VAR = "STUDIO_WORKSPACE"
#: set by a lock holder (the GUI) to its pid for a child process it starts to write on its
#: behalf (the import subprocess); the child may write while that parent holds the lock
LOCK_HOLDER_ENV = "STUDIO_LOCK_HOLDER"


def default_workspace_dir() -> Path:
    """The platform's per-user app-data folder for AI Studio."""
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming")
        return base / "AI Studio"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "AI Studio"
    base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "ai-studio"


def resolve_workspace_dir(explicit: str | Path | None = None) -> Path:
    """``explicit`` (the --workspace option) > $STUDIO_WORKSPACE > the app-data default."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    return default_workspace_dir()


class Workspace:
    """An open workspace folder. Use :meth:`open`; call :meth:`close` (or use ``with``)."""

    def __init__(self, root: Path):
        self.root = root
        self._lock: FileLock | None = None
        #: why this instance is read-only, or None when it holds the lock
        self.read_only_reason: str | None = None
        #: writes are allowed because our parent process holds the lock for us
        self._delegated = False

    # ------------------------------------------------------------------ paths
    @property
    def projects_dir(self) -> Path:
        return self.root / "projects"

    def project_dir(self, project_id: str) -> Path:
        return self.projects_dir / project_id

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    @property
    def owner_path(self) -> Path:
        return self.root / ".lock.owner"

    # ---------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | Path | None = None, *, lock: bool = True) -> Workspace:
        """Open (creating on first use) the workspace at ``path`` (see :func:`resolve_workspace_dir`).

        With ``lock`` the instance tries to take the write lock; if another live process holds
        it the workspace opens read-only and :attr:`read_only_reason` says who holds it.
        """
        root = resolve_workspace_dir(path)
        try:
            root.mkdir(parents=True, exist_ok=True)
            (root / "projects").mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the workspace folder: {exc.strerror}", path=root) from None
        ws = cls(root)
        if lock:
            ws._acquire()
        else:
            ws.read_only_reason = "opened without the lock"
        info = root / "workspace.json"
        if not info.exists() and ws.writable:
            write_model(info, WorkspaceInfo(app_version=__version__))
        return ws

    def _acquire(self) -> None:
        # thread_local=False: the lock belongs to the process, so background threads (sample
        # projects, imports) see the workspace as writable too
        lock = FileLock(str(self.lock_path), timeout=0, is_singleton=False, thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            if self._parent_holds_lock():
                self._delegated = True
                return
            self.read_only_reason = self._describe_owner()
            return
        self._lock = lock
        try:
            atomic_write_json(self.owner_path, {"pid": os.getpid(), "host": socket.gethostname(),
                                                "app_version": __version__})
        except OSError:
            pass  # the lock itself is what protects; the owner file only helps the message

    def _parent_holds_lock(self) -> bool:
        """Whether our parent started us with :data:`LOCK_HOLDER_ENV` and holds the lock."""
        holder = os.environ.get(LOCK_HOLDER_ENV, "")
        if not holder or holder != str(os.getppid()):
            return False
        try:
            return str(read_json(self.owner_path).get("pid")) == holder
        except (StoreError, AttributeError):
            return False

    def _describe_owner(self) -> str:
        try:
            owner = read_json(self.owner_path)
            who = f"process {owner.get('pid')} on {owner.get('host')}"
        except (StoreError, AttributeError):
            who = "another process"
        return f"the workspace {self.root} is in use by another AI Studio ({who}); it is open read-only"

    @property
    def writable(self) -> bool:
        return self._delegated or (self._lock is not None and self._lock.is_locked)

    def ensure_writable(self) -> None:
        """Raise :class:`WorkspaceLocked` unless this instance holds the write lock."""
        if not self.writable:
            raise WorkspaceLocked(self.read_only_reason or "the workspace is read-only")

    def info(self) -> WorkspaceInfo:
        return read_model(self.root / "workspace.json", WorkspaceInfo)

    def close(self) -> None:
        if self._lock is not None and self._lock.is_locked:
            try:
                self.owner_path.unlink(missing_ok=True)
            except OSError:
                pass
            self._lock.release()
        self._lock = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r}, writable={self.writable})"


def describe(ws: Workspace) -> dict:
    """Small JSON-able summary (CLI ``--json`` and diagnostics)."""
    return {"root": str(ws.root), "writable": ws.writable, "read_only_reason": ws.read_only_reason}


__all__ = ["Workspace", "default_workspace_dir", "resolve_workspace_dir", "describe", "ENV_VAR"]
