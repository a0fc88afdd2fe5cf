"""Shared fixtures: stand-in ONNX models with the colour contract, and a tiny real export from a fresh network."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from colorize_runtime import colour

REPOSITORY = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = REPOSITORY / "models" / "colorize.onnx"
SAMPLE_PHOTO = REPOSITORY / "examples" / "sample.jpg"


def pointwise_model(path: Path, a_gain: float = 0.5, b_gain: float = -0.25, metadata: bool = True,
                    window: int = colour.WINDOW) -> Path:
    """A stand-in model whose output at each pixel depends on that pixel's L only: ab_norm = (a_gain * L_norm,
    b_gain * L_norm). Sliding windows over it must reproduce that function exactly, whatever the overlap."""
    gains = helper.make_tensor("gains", TensorProto.FLOAT, [1, 2, 1, 1], [a_gain, b_gain])
    graph = helper.make_graph(
        [helper.make_node("Mul", ["L", "gains"], ["ab"])], "pointwise",
        [helper.make_tensor_value_info("L", TensorProto.FLOAT, ["N", 1, window, window])],
        [helper.make_tensor_value_info("ab", TensorProto.FLOAT, ["N", 2, window, window])], [gains])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    if metadata:
        model.metadata_props.add(key="colour_contract", value=json.dumps(colour.contract_metadata()))
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="session")
def pointwise_onnx(tmp_path_factory) -> Path:
    return pointwise_model(tmp_path_factory.mktemp("models") / "pointwise.onnx")


@pytest.fixture(scope="session")
def fresh_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint of an untrained network of the shipped design (decoder skips and global context) in train/'s
    format: random weights, seeded, the zero-initialised additions included so exports exercise them."""
    torch = pytest.importorskip("torch")
    from train.model import Colorizer
    from train.train import Config, save_atomic

    torch.manual_seed(0)
    model = Colorizer(global_context=True, skips=True)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith(Colorizer.ADDITION_PREFIXES):
                parameter.normal_(0, 0.05)
    path = tmp_path_factory.mktemp("checkpoint") / "fresh.pt"
    config = Config(global_context=1, skips=1)
    save_atomic({"model": model.state_dict(), "optimizer": {}, "config": config.__dict__, "step": 0,
                 "best_val": 1.0}, path)
    return path


@pytest.fixture(scope="session")
def fresh_onnx(fresh_checkpoint, tmp_path_factory) -> Path:
    """fresh_checkpoint exported by export/ (verified there against torch)."""
    from export.export import export

    path = tmp_path_factory.mktemp("export") / "fresh.onnx"
    export(fresh_checkpoint, path)
    return path


def photo_like(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth, colourful uint8 test image (gradients plus a little noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = [127 + 100 * np.sin(x / 37 + k) * np.cos(y / 53 - k) for k in range(channels)]
    image = np.stack(planes, axis=-1) + rng.normal(0, 5, (height, width, channels))
    image = np.clip(image, 0, 255).astype(np.uint8)
    return image[..., 0] if channels == 1 else image
