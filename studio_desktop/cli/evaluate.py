"""`studio evaluate` (placeholder until its issue is built)."""

from __future__ import annotations

from .common import not_built


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate (not built yet)")
    p.add_argument("rest", nargs="*")
    p.set_defaults(func=not_built("evaluate"))
