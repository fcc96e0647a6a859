"""Dataset page (step 2): import images and annotations, browse them, check data health."""

from __future__ import annotations

from .page import DatasetPage

__all__ = ["DatasetPage"]
