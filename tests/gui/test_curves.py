"""The curves panel: plots built over a few event-loop turns, points buffered meanwhile, and
scores between 0 and 1 shown on the whole 0-1 axis."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


def test_points_wait_for_the_plots_then_scores_use_the_whole_axis(qtbot):
    from studio_desktop.gui.widgets.curves import CurvesPanel

    panel = CurvesPanel()
    qtbot.addWidget(panel)
    panel.show()
    for epoch, acc in ((1, 0.991), (2, 0.995), (3, 1.0)):
        panel.add_point(epoch, {"train_loss": 1.0 / epoch, "val_accuracy": acc, "lr": 0.01})
    qtbot.waitUntil(lambda: panel.point_count() == 9, timeout=5000)  # built, then drawn
    low, high = panel.plots["metrics"].plotItem.viewRange()[1]
    assert low < 0.0 and 1.0 < high < 1.1  # not zoomed onto 0.99-1.0
    panel.add_point(4, {"val_mae": 12.5})  # a score that is not a fraction: automatic range again
    panel.redraw_now()
    qtbot.waitUntil(lambda: panel.plots["metrics"].plotItem.viewRange()[1][1] > 10, timeout=5000)


def test_a_panel_deleted_before_its_plots_are_built_raises_nothing(qtbot):
    """The plots are built one per event-loop turn; a panel gone before that (a window closed
    right after a page was built) must not have its build run on a deleted layout."""
    import shiboken6

    from studio_desktop.gui.widgets.curves import CurvesPanel

    panel = CurvesPanel()
    shiboken6.delete(panel)  # pending: the first plot's build
    qtbot.wait(50)  # pytest-qt fails the test on an exception raised in the event loop


def test_detection_scores_are_curves_of_their_own_not_parts_of_map(qtbot):
    """val_map_50 begins like a per-target part of val_map (val_mae_radius of val_mae), but the task
    registry names it: it gets its own curve, and the mAR acronym its capitals."""
    from studio_desktop.gui.widgets.curves import CurvesPanel, label_of

    panel = CurvesPanel()
    qtbot.addWidget(panel)
    panel.add_point(1, {"val_map": 0.2, "val_map_50": 0.5, "val_map_75": 0.1, "val_mar_100": 0.4,
                        "val_mae": 3.0, "val_mae_radius": 2.0})
    keys = {k for _, k in panel._series}
    assert {"val_map", "val_map_50", "val_map_75", "val_mar_100", "val_mae"} <= keys
    assert "val_mae_radius" not in keys
    assert label_of("val_mar_100") == "validation mAR@100"
    assert label_of("val_map_50") == "validation mAP@0.5" and label_of("val_map_75") == "validation mAP@0.75"
    assert label_of("val_map") == "validation mAP" and label_of("val_mae_radius") == "validation MAE radius"


def test_the_metrics_legend_leaves_the_rising_curves_free(qtbot):
    """A metric that rises (accuracy, mAP) fills the upper right of its plot: the legend goes
    lower right; one that falls (a regression's MAE) keeps it upper right."""
    from studio_desktop.gui.widgets.curves import CurvesPanel

    panel = CurvesPanel()
    qtbot.addWidget(panel)
    panel.resize(500, 600)
    panel.show()
    qtbot.waitUntil(lambda: "metrics" in panel.plots, timeout=5000)
    plot = panel.plots["metrics"].plotItem
    for monitor, below in (("val_map", True), ("val_mae", False), ("val_accuracy", True)):
        panel.set_monitor(monitor)
        for epoch in range(1, 6):
            panel.add_point(epoch, {monitor: 0.1 * epoch})
        qtbot.wait(50)
        legend_mid = plot.legend.mapRectToScene(plot.legend.boundingRect()).center().y()
        view_mid = plot.vb.mapRectToScene(plot.vb.boundingRect()).center().y()
        assert (legend_mid > view_mid) is below, monitor
