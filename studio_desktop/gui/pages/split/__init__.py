"""Split page (step 3): stratified, leak-free train/val/test splits with a preview; saved splits are locked."""

from __future__ import annotations

from .page import SplitPage

__all__ = ["SplitPage"]
