"""Task id -> its evaluation module (numpy, torch-free): how its cached scores load and read.

Each module provides a scores class with ``from_npz`` and ``summary_lines(aggregate)``; the
Evaluation page's result views (``gui/pages/evaluation/views``) are looked up by the same ids.
"""

from __future__ import annotations

from types import ModuleType

from . import anomaly, classification, detection, regression, segmentation

ANALYSES: dict[str, ModuleType] = {
    "classification": classification,
    "regression": regression,
    "object_detection": detection,
    "semantic_segmentation": segmentation,
    "anomaly_detection": anomaly,
}

#: the scores class of each task's cache (scores.npz)
SCORES = {"classification": classification.Scores, "regression": regression.RegressionScores,
          "object_detection": detection.DetectionScores,
          "semantic_segmentation": segmentation.SegmentationScores,
          "anomaly_detection": anomaly.AnomalyScores}


def analysis(task: str) -> ModuleType:
    try:
        return ANALYSES[task]
    except KeyError:
        raise ValueError(f"evaluation of {task} models is not available in this version") from None


__all__ = ["ANALYSES", "SCORES", "analysis"]
