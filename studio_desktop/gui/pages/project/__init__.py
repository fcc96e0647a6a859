"""Project page (step 1): list, create, open, rename and delete projects."""

from __future__ import annotations

from .page import ProjectPage

__all__ = ["ProjectPage"]
