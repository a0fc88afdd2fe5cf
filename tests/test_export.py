"""export/: one self-contained, checked ONNX file that matches torch and carries the colour contract."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from colorize_runtime import Colorizer, colour  # noqa: E402
from export.export import load_model  # noqa: E402
from tests.conftest import photo_like  # noqa: E402
from train.data import to_tensors  # noqa: E402
from train.train import load_checkpoint  # noqa: E402


def test_exported_file_is_checked_and_has_the_contract(fresh_onnx):
    model = onnx.load(fresh_onnx)
    onnx.checker.check_model(model, full_check=True)
    (graph_input,), (graph_output,) = model.graph.input, model.graph.output
    dims = [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    assert graph_input.name == "L" and dims[1:] == [1, 256, 256] and isinstance(dims[0], str)
    assert graph_output.name == "ab"
    metadata = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert metadata["colour_contract"] == colour.contract_metadata()
    assert {"training_step", "data", "val_loss"} <= set(metadata)
    assert metadata["model"]["architecture"].endswith("+ 1/2 and 1/4 encoder skips + global context")
    assert not list(fresh_onnx.parent.glob("*.data"))  # self-contained, no external weights
    assert not any(node.metadata_props or node.doc_string for node in model.graph.node)  # no local stack traces


def test_onnxruntime_matches_torch_for_a_batch(fresh_onnx, fresh_checkpoint):
    model = load_model(load_checkpoint(fresh_checkpoint))
    session = ort.InferenceSession(str(fresh_onnx), providers=["CPUExecutionProvider"])
    batch = np.random.default_rng(1).uniform(-1, 1, (3, 1, 256, 256)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(session.run(None, {"L": batch})[0], expected, atol=1e-4)


def test_runtime_window_equals_torch_through_training_preprocessing(fresh_onnx, fresh_checkpoint):
    """One 256x256 photo: the runtime's ab equals torch's forward on train/'s preprocessing of the same photo."""
    photo = photo_like(256, 256, seed=3)
    model = load_model(load_checkpoint(fresh_checkpoint))
    lightness, _ = to_tensors([photo])
    with torch.no_grad():
        expected_ab = model(lightness)[0].numpy().transpose(1, 2, 0) * colour.AB_SCALE
    runtime_ab = Colorizer(fresh_onnx, providers="cpu").predict_ab(colour.lightness(photo))
    np.testing.assert_allclose(runtime_ab, expected_ab, atol=1e-4 * colour.AB_SCALE)
