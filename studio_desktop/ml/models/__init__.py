"""Model builders by catalog name (``core.train_config.MODEL_CATALOG``)."""

from .classification import build_classifier, split_stages
from .weights import load_pretrained, pretrained_cache_path

__all__ = ["build_classifier", "split_stages", "load_pretrained", "pretrained_cache_path"]
