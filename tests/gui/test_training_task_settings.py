"""Training page, task by task: the "task settings" section built from core/task_settings.py (a
widget per field type, help from each description, values round-tripping into the experiment's
config, errors under their field), the augmentation editor's note on why some augmentations are
off by default, and the curves saying which way is better and where the best checkpoint is."""

from __future__ import annotations

import numpy as np
import pytest
from _regression_factory import make_images, regression_project
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit

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


def open_regression(ctx, units=None):
    project = regression_project(ctx.workspace, units=units)
    truth = np.stack([np.linspace(5, 40, 20), np.linspace(0.2, 0.9, 20)], axis=1)
    make_images(ctx.workspace, project, truth, ["train"] * 12 + ["val"] * 4 + ["test"] * 4)
    ctx.open_project(project)
    return project


def test_task_settings_section_is_built_from_the_settings_model(qtbot, ctx, page):
    from studio_desktop.core.task_settings import RegressionSettings

    open_regression(ctx)
    box = page.form.task_box
    assert box is not None and box.title() == "Regression settings"
    assert list(box.rows) == list(RegressionSettings.model_fields)
    kinds = {name: type(row.widget) for name, row in box.rows.items()}
    assert kinds["loss"] is QComboBox and kinds["huber_delta"] is QLineEdit
    loss = box.rows["loss"].widget
    assert [loss.itemText(i) for i in range(loss.count())] == ["mse", "l1", "huber"]
    weights, logs = box.rows["target_weights"], box.rows["log_targets"]
    assert list(weights.items) == ["radius", "brightness"] and all(isinstance(w, QDoubleSpinBox)
                                                                   for w in weights.items.values())
    assert [b.text() for b in logs.items.values()] == ["radius (px)", "brightness"]
    assert all(isinstance(b, QCheckBox) for b in logs.items.values())
    for name, info in RegressionSettings.model_fields.items():  # each description is its help
        assert info.description in box.rows[name].widget.toolTip()
        assert box.rows[name].hint.text() == info.description
    # between "Regularisation and stopping" and "Hardware and reproducibility"
    lay = page.form.layout()
    assert lay.indexOf(page.form._boxes["Regularisation and stopping"]) < lay.indexOf(box) < \
        lay.indexOf(page.form._boxes["Hardware and reproducibility"])
    assert page.form.values()["task_settings"] == {"loss": "mse", "huber_delta": 1.0, "target_weights": {},
                                                   "log_targets": []}


def test_task_settings_round_trip_into_the_experiment_config(qtbot, ctx, page, monkeypatch):
    from studio_desktop.core.experiments import ExperimentService
    from studio_desktop.core.task_settings import settings_for

    project = open_regression(ctx)
    monkeypatch.setattr(page.jobs, "start_training", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("test")))
    box = page.form.task_box
    box.rows["loss"].widget.setCurrentText("huber")
    edit = box.rows["huber_delta"].widget
    edit.clear()
    qtbot.keyClicks(edit, "2.5")
    box.rows["target_weights"].items["brightness"].setValue(3.0)
    box.rows["log_targets"].items["radius"].setChecked(True)
    assert page.validation.ok, page.validation.errors
    wanted = {"loss": "huber", "huber_delta": 2.5, "target_weights": {"brightness": 3.0}, "log_targets": ["radius"]}
    assert page.config_data()["task_settings"] == wanted
    qtbot.keyClicks(page.form.name_edit, "huber run")
    page.start()
    exp = ExperimentService(ctx.workspace, project.id).get("huber run")
    assert exp.config.task_settings == wanted
    assert settings_for("regression", exp.config).loss == "huber"  # what the worker reads
    # a new experiment shows the defaults; selecting the stored one shows its settings again
    page.new_experiment()
    assert box.values()["loss"] == "mse" and not box.rows["log_targets"].items["radius"].isChecked()
    page.reload_list()
    page.experiments.select([exp.id])
    page._selection_changed([exp.id])
    assert page.form.task_box.values() == wanted
    assert page.form.task_box.rows["target_weights"].items["brightness"].value() == 3.0


def test_task_setting_errors_appear_under_their_field(qtbot, ctx, page):
    open_regression(ctx)
    box = page.form.task_box
    edit = box.rows["huber_delta"].widget
    for text, words in (("abc", "number"), ("0", "greater than 0")):
        edit.clear()
        qtbot.keyClicks(edit, text)
        error = box.rows["huber_delta"].error
        assert not error.isHidden() and words in error.text() and error.text().startswith("Huber delta:")
        assert not page.start_button.isEnabled()
    edit.clear()
    qtbot.keyClicks(edit, "1.5")
    assert box.rows["huber_delta"].error.isHidden() and page.start_button.isEnabled()
    # a stored config naming a target this project does not have keeps it and says why
    from studio_desktop.core.train_config import defaults_for

    cfg = defaults_for("regression").model_copy(update={"task_settings": {"log_targets": ["price"]}})
    page.form.set_config(cfg)
    page._settings_changed()
    assert "'price' is not a target" in box.rows["log_targets"].error.text()
    assert page.form.values()["task_settings"]["log_targets"] == ["price"]


def test_a_task_without_settings_gets_no_section(qtbot, ctx, page):
    from test_training_page import make_project

    ctx.open_project(make_project(ctx.workspace))
    assert page.form.task_box is None
    assert "task_settings" not in page.form.values() or page.form.values()["task_settings"] == {}
    assert page.augment.task_note.isHidden()
    assert page.results.curves._monitor == "val_accuracy"


def test_settings_a_task_does_not_use_are_hidden(qtbot, ctx, page, capsys):
    """"Balance classes" and "Label smoothing" mean nothing to a regression: the form hides them
    (and shows them again for a classifier); the huber delta shows only with the huber loss;
    --list-settings says which tasks the class settings are for."""
    from test_training_page import make_project

    from studio_desktop.cli import main

    def shown(name):
        return not page.form.rows[name].widget.parentWidget().isHidden()

    open_regression(ctx)
    assert not shown("class_weights") and not shown("label_smoothing") and shown("lr") and shown("epochs")
    box = page.form.task_box
    delta = box.rows["huber_delta"].widget.parentWidget()
    assert delta.isHidden()
    box.rows["loss"].widget.setCurrentText("huber")
    assert not delta.isHidden()
    box.rows["loss"].widget.setCurrentText("l1")
    assert delta.isHidden()
    assert page.form.values()["task_settings"]["huber_delta"] == 1.0  # hidden, still valid and kept
    ctx.open_project(make_project(ctx.workspace))
    assert shown("class_weights") and shown("label_smoothing")
    assert main(["train", "--list-settings"]) == 0
    out = capsys.readouterr().out
    assert "class_weights: " in out and "(only for classification)" in out.split("class_weights: ")[1].splitlines()[0]
    assert "(only for" not in out.split("\nlr: ")[1].splitlines()[0]


def test_augmentation_editor_says_why_augmentations_are_off_for_regression(qtbot, ctx, page):
    from studio_desktop.core.train_config import AUGMENTATION_NOTES, default_augmentations

    open_regression(ctx)
    editor = page.augment
    notes = AUGMENTATION_NOTES["regression"]
    assert not editor.task_note.isHidden() and editor.task_note.text() == notes[""]
    on = {s.name for s in default_augmentations("regression")}
    assert "color_jitter" not in on and "rotation" not in on  # off by default, and said why:
    editor.add_step("color_jitter")
    assert "Off by default for regression" in editor.step_help.text() and "brightness" in editor.step_help.text()
    item = editor.list.item(editor.list.count() - 1)
    assert notes["color_jitter"] in item.toolTip()
    assert notes["rotation"] in editor._actions["rotation"].toolTip()


def test_curves_say_which_way_is_better_and_star_the_best_checkpoint(qtbot):
    from studio_desktop.gui.widgets.curves import CurvesPanel

    panel = CurvesPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_monitor("val_mae")
    maes = [4.0, 2.5, 1.2, 1.9, 1.2, 1.5]  # a tie at 1.2: the later epoch, as best.ckpt
    rows = [{"kind": "epoch", "epoch": e, "train_loss": 1 / e, "val_loss": 1 / e, "val_mae": m, "val_rmse": m * 1.3,
             "val_r2": 1 - m / 5, "val_mae_radius": m * 2, "val_mae_brightness": m / 20, "lr": 0.001}
            for e, m in enumerate(maes, 1)]
    panel.set_rows(rows)
    panel.redraw_now()
    assert panel.best == (5, 1.2)
    plot = panel.plots["metrics"]
    title = plot.plotItem.titleLabel.text
    assert "best checkpoint: lowest validation MAE" in title
    labels = [label.text for _item, label in plot.plotItem.legend.items]
    assert "validation MAE (lower is better)" in labels and "validation R² (higher is better)" in labels
    assert "best checkpoint" in labels
    assert not any("radius" in n for n in panel.series_names())  # per-target parts stay in the numbers
    # a classification run: higher is better, the star on the highest accuracy
    panel.set_monitor("val_accuracy")
    panel.set_rows([{"kind": "epoch", "epoch": e, "val_accuracy": a, "train_loss": 1.0}
                    for e, a in enumerate([0.5, 0.9, 0.8], 1)])
    panel.redraw_now()
    assert panel.best == (2, 0.9)
    assert plot.plotItem.titleLabel.text.startswith("Validation metrics (higher is better)")
    assert "highest validation accuracy" in plot.plotItem.titleLabel.text


def test_the_training_page_curves_follow_the_task(qtbot, ctx, page):
    from studio_desktop.core.experiments import BestMetric

    open_regression(ctx)
    assert page.results.curves._monitor == "val_mae"
    assert page.form.rows["early_stopping_metric"].widget.text() == "val_mae"
    page.results._show_final({"val_mae": 1.2}, BestMetric(metric="mae", value=1.065, epoch=15))
    assert "best checkpoint: epoch 15, lowest validation MAE <b>1.065</b>" in page.results.final.text()
