"""Result views of the Evaluation page, looked up by task id (DESIGN §10, like napari's
layer → visual table): a later task adds one module here and one line in :data:`VIEWS`.

A view is a :class:`~.base.ResultView` (a ``QWidget``) built with no arguments that has ``set_results(results)``,
``set_writable(bool)``, ``current_subset()``, ``show_selection(filter)``, ``show_image(row)`` (the
grid's selected image), ``save_operating_point()``, ``section_summary()`` (the Metrics header),
``add_tab(widget, title, tooltip)``, the attributes ``compares`` (whether the page's Compare panel
belongs among its tabs) and ``section_help``, and the signals ``filterRequested(dict)``
(ResultFilter fields for the image grid), ``imageRequested(image id, subset)`` (one image to show),
``operatingPointChanged()`` (what decides the grid's colours and order changed: a decision rule, a
regression's current target), ``subsetChanged(str)`` and ``refreshed()``. The report asks the view
module's ``<module>_report`` sibling (:func:`report_module`) for ``subset_reports(results)``
(thread-safe), ``report_summary(results, exp)`` (the opening line) and ``report_sections(results,
image_path, reports=...)`` (HTML with the page's plots).
"""

from __future__ import annotations

import importlib

#: task id -> "module:Class" under this package
VIEWS: dict[str, str] = {
    "classification": "classification:ClassificationView",
    "regression": "regression:RegressionView",
    "object_detection": "detection:DetectionView",
    "anomaly_detection": "anomaly:AnomalyView",
    "semantic_segmentation": "segmentation:SegmentationView",
}


def view_module(task: str):
    """The view module of a task, or None when the page cannot show that task's results yet."""
    spec = VIEWS.get(task)
    if spec is None:
        return None
    return importlib.import_module(f"{__name__}.{spec.partition(':')[0]}")


def view_for(task: str):
    """A new result view for ``task``, or None."""
    spec = VIEWS.get(task)
    if spec is None:
        return None
    module = view_module(task)
    return getattr(module, spec.partition(":")[2])()


def report_module(task: str):
    """The report module of a task's view (``detection`` -> ``detection_report``), or None."""
    spec = VIEWS.get(task)
    if spec is None:
        return None
    return importlib.import_module(f"{__name__}.{spec.partition(':')[0]}_report")
