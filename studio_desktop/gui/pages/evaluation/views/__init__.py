"""Result views of the Evaluation page, looked up by task id (DESIGN §10, like napari's
layer → visual table): a later task adds one module here and one line in :data:`VIEWS`.

A view is a ``QWidget`` built with no arguments that has ``set_results(results)``,
``set_writable(bool)``, ``current_subset()``, ``show_selection(filter)``, ``save_operating_point()``,
``add_tab(widget, title, tooltip)`` and the signals ``filterRequested(dict)`` (ResultFilter fields
for the image grid), ``operatingPointChanged()``, ``subsetChanged(str)`` and ``refreshed()``. The
report asks the same module for ``report_numbers(results)`` (thread-safe) and
``report_sections(results, image_path, reports=...)`` (HTML with the page's plots).
"""

from __future__ import annotations

import importlib

#: task id -> "module:Class" under this package
VIEWS: dict[str, str] = {
    "classification": "classification:ClassificationView",
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
