"""Training page for anomaly detection: the models of every kind are offered, a fitted model
(PatchCore) greys out epochs and the optimiser's settings and says why, a supervised model gets
them back, and the anomaly settings section is built with its help texts (screenshot in notes)."""

from __future__ import annotations

import pytest
from _anomaly_factory import import_hazelnut

pytestmark = pytest.mark.gui


@pytest.fixture
def page(qtbot, ctx, monkeypatch):
    from studio_desktop.gui.pages.training import TrainingPage

    p = TrainingPage(ctx)
    qtbot.addWidget(p)
    p.resize(1400, 900)
    p.show()
    monkeypatch.setattr(p.preview, "request", lambda *a, **k: None)  # no preview worker
    yield p
    p.shutdown()


def test_fitted_models_have_no_epochs_and_supervised_ones_do(qtbot, ctx, page, real_fixtures):
    from studio_desktop.core.task_settings import AnomalySettings

    project, _, _ = import_hazelnut(ctx.workspace, real_fixtures)
    ctx.open_project(project)
    form = page.form
    combo = form.rows["model"].widget
    names = [combo.itemData(i) for i in range(combo.count())]
    assert {"patchcore_resnet18", "padim_resnet18", "draem", "tiny_cnn"} <= set(names)
    combo.setCurrentIndex(names.index("patchcore_resnet18"))
    assert not form.rows["epochs"].widget.isEnabled() and not form.rows["lr"].widget.isEnabled()
    assert "one pass over the training images" in form.rows["epochs"].hint.text()
    assert form.rows["batch_size"].widget.isEnabled()  # the feature pass still goes by batches
    box = form.task_box
    assert box is not None and list(box.rows) == list(AnomalySettings.model_fields)
    for name, info in AnomalySettings.model_fields.items():
        assert info.description in box.rows[name].widget.toolTip()
    qtbot.wait(50)
    page.grab().save("/work/notes/anomaly-training-page.png")
    combo.setCurrentIndex(names.index("tiny_cnn"))
    assert form.rows["epochs"].widget.isEnabled() and form.rows["lr"].widget.isEnabled()
    assert "one pass" not in form.rows["epochs"].hint.text()
