"""Finding a project, split or experiment by what the user typed: its id or its name.

The CLI and the pages accept either (DESIGN §7); ids win over names, names match
case-insensitively, and a miss lists a few existing names so the user can correct a typo.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from .errors import NotFound


class Named(Protocol):
    id: str
    name: str


T = TypeVar("T", bound=Named)


def find_by_ref(items: Sequence[T], ref: str | None, kind: str, *, listed: int = 10) -> T:
    """The item whose id is ``ref``, else whose name matches it; :class:`NotFound` otherwise."""
    for item in items:
        if item.id == ref:
            return item
    wanted = (ref or "").strip().casefold()
    for item in items:
        if item.name.casefold() == wanted:
            return item
    names = ", ".join(i.name for i in items[:listed])
    raise NotFound(f"no {kind} named or with id '{ref}'" + (f"; existing: {names}" if items else ""))
