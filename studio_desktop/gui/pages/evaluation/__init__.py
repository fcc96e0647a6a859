"""Evaluation page: measure a trained model, see where it goes wrong, choose its operating point."""

from .page import EvaluationPage

__all__ = ["EvaluationPage"]
