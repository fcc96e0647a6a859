"""Model builders by catalog name (``core.train_config.MODEL_CATALOG``)."""

from .classification import build_classifier, split_stages
from .weights import check_weights_file, load_pretrained, read_weights_file

__all__ = ["build_classifier", "split_stages", "check_weights_file", "load_pretrained", "read_weights_file"]
