"""Qt layer. Never imports torch (DESIGN §2): ML runs in worker processes started by ``jobs``."""

from . import qt_fixes as _qt_fixes  # noqa: F401  (must run before any signal is emitted)
