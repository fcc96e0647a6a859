"""Training page: configure, run, follow and compare training experiments."""

from .page import TrainingPage

__all__ = ["TrainingPage"]
