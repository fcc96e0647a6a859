"""Every classification model of the catalog exports to every format and passes its validation.

Parametrised over ``MODEL_CATALOG["classification"]`` x the format registry (the two lists the
app itself offers), at 32 px, from freshly initialised networks saved as training saves them.
One workspace per model (module-scoped) so each network is built once.
"""

from __future__ import annotations

import pytest
from export_helpers import export, make_tiny_project, untrained_experiment

from studio_desktop.core.exports import FORMATS as FORMAT_INFO
from studio_desktop.core.train_config import MODEL_CATALOG
from studio_desktop.core.workspace import Workspace
from studio_desktop.ml.export.registry import FORMATS
from studio_desktop.ml.export.runtime import load_exported

pytestmark = pytest.mark.ml

MODELS = [m.name for m in MODEL_CATALOG["classification"]]
#: the largest networks: their dynamo export alone takes 10-20 s here (run in CI all the same)
SLOW_MODELS = {"convnext_tiny", "efficientnet_b3"}


def _param(model: str):
    return pytest.param(model, marks=pytest.mark.slow) if model in SLOW_MODELS else model


@pytest.fixture(scope="module", params=[_param(m) for m in MODELS])
def model_experiment(request, tmp_path_factory):
    ws = Workspace.open(tmp_path_factory.mktemp(f"ws-{request.param}"))
    project, _ = make_tiny_project(ws, per_class=4, val_every=2)
    exp = untrained_experiment(ws, project, request.param)
    yield ws, project, exp
    ws.close()


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_catalog_model_exports_and_validates(model_experiment, fmt):
    ws, project, exp = model_experiment
    out = export(ws, project, exp, format=fmt, validation_images=6)
    assert out.status == "ready", (out.error, out.record and out.record.validation)
    rec = out.record
    v = rec.validation
    assert v.passed and v.images == 6 and v.subsets == {"val": 6}
    assert v.max_abs_diff is not None and v.max_abs_diff <= v.checks[1].limit
    assert v.agreement == 1.0
    assert rec.file == FORMAT_INFO[fmt].file_name
    assert rec.file_size == sum((out.folder / f).stat().st_size for f in rec.files if f != rec.snippet) > 0
    model = load_exported(out.folder)
    assert model.class_names == ["red", "green", "blue"] and model.metadata["model"] == exp.config.model
