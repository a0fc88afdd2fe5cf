"""Models that must be refused before any photo is touched (issue 28, classes 1 and 4): external data outside the
model's folder, a bad colour contract, outputs of the wrong shape, a graph that fails when run. Each is one line
on stderr, exit code 2, and the photos and their folder are left as they were."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from colorize_runtime import colorizer as colorizer_module, colour
from colorize_runtime.cli import main
from colorize_runtime.errors import ColorizeError
from colorize_runtime.model_check import external_data_locations
from tests.conftest import pointwise_model, photo_like

W = colour.WINDOW


def save(graph, path: Path, contract=None, metadata: dict | None = None) -> Path:
    """graph saved as an ONNX model with a colour contract (the valid one unless given: a dict, or raw text)."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    contract = colour.contract_metadata() if contract is None else contract
    model.metadata_props.add(key="colour_contract", value=contract if isinstance(contract, str)
                             else json.dumps(contract))
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=json.dumps(value))
    onnx.save(model, path)
    return path


def gained(path: Path, gains: list[float], output_shape: list) -> Path:
    """ab = L * gains (broadcast over the channels: len(gains) of them), declared as output_shape."""
    tensor = helper.make_tensor("gains", TensorProto.FLOAT, [1, len(gains), 1, 1], gains)
    return save(helper.make_graph(
        [helper.make_node("Mul", ["L", "gains"], ["ab"])], "gained",
        [helper.make_tensor_value_info("L", TensorProto.FLOAT, ["N", 1, W, W])],
        [helper.make_tensor_value_info("ab", TensorProto.FLOAT, output_shape)], [tensor]), path)


def channels_found_when_run(path: Path) -> Path:
    """ab = L tiled N + 2 times over the channels: a count onnxruntime cannot know before it runs (3 for one
    window)."""
    constants = [helper.make_tensor(name, TensorProto.INT64, [len(values)], values)
                 for name, values in (("first", [0]), ("one", [1]), ("two", [2]), ("ones", [1, 1]))]
    return save(helper.make_graph(
        [helper.make_node("Shape", ["L"], ["shape"]),
         helper.make_node("Slice", ["shape", "first", "one"], ["n"]),
         helper.make_node("Add", ["n", "two"], ["channels"]),
         helper.make_node("Concat", ["one", "channels", "ones"], ["repeats"], axis=0),
         helper.make_node("Tile", ["L", "repeats"], ["ab"])], "tiled",
        [helper.make_tensor_value_info("L", TensorProto.FLOAT, ["N", 1, W, W])],
        [helper.make_tensor_value_info("ab", TensorProto.FLOAT, ["N", 2, W, W])], constants), path)


def failing_when_run(path: Path) -> Path:
    """A graph that loads but fails at run time: a Gather whose indices lie outside the data (checked only then)."""
    indices = helper.make_tensor("indices", TensorProto.INT64, [2], [5, 5])
    return save(helper.make_graph(
        [helper.make_node("Gather", ["L", "indices"], ["ab"], axis=1)], "failing",
        [helper.make_tensor_value_info("L", TensorProto.FLOAT, ["N", 1, W, W])],
        [helper.make_tensor_value_info("ab", TensorProto.FLOAT, ["N", 2, W, W])], [indices]), path)


GRID_CELLS = [[a, b] for a in range(-40, 50, 10) for b in range(-65, 70, 5)]  # 9 x 27 cells


def guided_like(path: Path, hint_name: str = "hints", hints: dict | None = None) -> Path:
    """The guided model's interface: inputs L [N, 1, W, W], hints [N, 3, W, W] and global_hint [N, 243]; outputs
    ab [N, 2, W, W] (L times gains plus the hints' first two channels) and distribution [N, 243, W/8, W/8] (the
    softmax of the global hint, at every location). hints: the hint contract's metadata (valid cells unless
    given)."""
    gains = helper.make_tensor("gains", TensorProto.FLOAT, [1, 2, 1, 1], [0.5, -0.25])
    starts, ends, axes = (helper.make_tensor(n, TensorProto.INT64, [1], [v]) for n, v in
                          (("starts", 0), ("ends", 2), ("axes", 1)))
    per_location, at_eighth = (helper.make_tensor(n, TensorProto.INT64, [4], v) for n, v in
                               (("per_location", [-1, 243, 1, 1]), ("at_eighth", [1, 1, W // 8, W // 8])))
    return save(helper.make_graph(
        [helper.make_node("Mul", ["L", "gains"], ["scaled"]),
         helper.make_node("Slice", [hint_name, "starts", "ends", "axes"], ["hint_ab"]),
         helper.make_node("Add", ["scaled", "hint_ab"], ["ab"]),
         helper.make_node("Reshape", ["global_hint", "per_location"], ["logits"]),
         helper.make_node("Expand", ["logits", "at_eighth"], ["spread"]),
         helper.make_node("Softmax", ["spread"], ["distribution"], axis=1)], "guided",
        [helper.make_tensor_value_info("L", TensorProto.FLOAT, ["N", 1, W, W]),
         helper.make_tensor_value_info(hint_name, TensorProto.FLOAT, ["N", 3, W, W]),
         helper.make_tensor_value_info("global_hint", TensorProto.FLOAT, ["N", 243])],
        [helper.make_tensor_value_info("ab", TensorProto.FLOAT, ["N", 2, W, W]),
         helper.make_tensor_value_info("distribution", TensorProto.FLOAT, ["N", 243, W // 8, W // 8])],
        [gains, starts, ends, axes, per_location, at_eighth]), path,
        metadata={"hints": {"ab_cells": GRID_CELLS} if hints is None else hints})


def with_external_gains(folder: Path, location: str) -> Path:
    """The pointwise model with its gains in an external data file, gains.bin beside it, whose location in the
    model is then set to location."""
    model_path = pointwise_model(folder / "external.onnx")
    model = onnx.load(model_path)
    gains = model.graph.initializer[0]
    raw = onnx.numpy_helper.to_array(gains).astype(np.float32).tobytes()
    (folder / "gains.bin").write_bytes(raw)
    gains.ClearField("float_data")
    gains.ClearField("raw_data")
    gains.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(len(raw)))):
        gains.external_data.add(key=key, value=value)
    onnx.save(model, model_path)
    return model_path


def bad_external_data(tmp_path: Path, kind: str) -> Path:
    """A model in tmp_path/model/ whose external data lies outside that folder, in a file beside it."""
    folder, outside = tmp_path / "model", tmp_path / "secret.bin"
    folder.mkdir()
    outside.write_bytes(np.array([0.5, -0.25], np.float32).tobytes())
    if kind == "symlink":
        (folder / "link.bin").symlink_to(outside)
    return with_external_gains(folder, {"parent": "../secret.bin", "absolute": str(outside),
                                        "symlink": "link.bin"}[kind])


def bad_model(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "model.onnx"
    if kind.startswith("external "):
        return bad_external_data(tmp_path, kind.split()[1])
    contract = colour.contract_metadata()
    contracts = {"contract not JSON": "{window: 256", "contract not an object": "[1, 2]",
                 "L_scale 0": {**contract, "L_scale": 0}, "window abc": {**contract, "window": "abc"},
                 "ab_scale NaN": '{"L_center": 50, "L_scale": 50, "ab_scale": NaN, "window": 256}',
                 "L_center missing": {key: value for key, value in contract.items() if key != "L_center"},
                 "window true": {**contract, "window": True}}
    if kind in contracts:
        tensor = helper.make_tensor("gains", TensorProto.FLOAT, [1, 2, 1, 1], [0.5, -0.25])
        return save(helper.make_graph(
            [helper.make_node("Mul", ["L", "gains"], ["ab"])], "contract",
            [helper.make_tensor_value_info("L", TensorProto.FLOAT, ["N", 1, W, W])],
            [helper.make_tensor_value_info("ab", TensorProto.FLOAT, ["N", 2, W, W])], [tensor]), path,
            contract=contracts[kind])
    if kind == "three output channels declared":
        return gained(path, [0.5, -0.25, 0.1], ["N", 3, W, W])
    if kind == "three output channels found when run":
        return channels_found_when_run(path)
    if kind == "output not finite":
        return gained(path, [math.nan, 0.0], ["N", 2, W, W])
    if kind == "fails when run":
        return failing_when_run(path)
    if kind == "unknown extra input":
        return guided_like(path, hint_name="scribbles")
    raise AssertionError(kind)


REASONS = {
    "external parent": "its external data '../secret.bin' lies outside the model's folder; refusing to read it",
    "external absolute": "lies outside the model's folder",
    "external symlink": "its external data 'link.bin' lies outside the model's folder",
    "contract not JSON": "its colour_contract is not JSON",
    "contract not an object": "its colour_contract is not a JSON object",
    "L_scale 0": "its colour_contract's L_scale must be a number from 1 to 1000, not 0",
    "window abc": 'its colour_contract\'s window must be 256, the model\'s input size, not "abc"',
    "ab_scale NaN": "its colour_contract's ab_scale must be a number from 1 to 1000, not NaN",
    "L_center missing": "its colour_contract's L_center must be a finite number, not null",
    "window true": "its colour_contract's window must be 256, the model's input size, not true",
    "three output channels declared": f"expected a first output of shape [N, 2, {W}, {W}] (float), found ab ['N', 3",
    "three output channels found when run": f"a test window gave an output of shape [1, 3, {W}, {W}], not [1, 2",
    "output not finite": "a test window gave values that are not finite",
    "fails when run": "the model fails on a test window (",
    "unknown extra input": "and only hints and global_hint besides; found L ['N', 1, 256, 256], scribbles",
}


def photos_in(folder: Path, count: int = 3) -> dict[Path, bytes]:
    photos = {}
    for i in range(count):
        path = folder / f"{i}.png"
        path.write_bytes(colorizer_module.cv2.imencode(".png", photo_like(24, 32, seed=i))[1].tobytes())
        photos[path] = path.read_bytes()
    return photos


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("kind", list(REASONS))
def test_a_bad_model_is_one_line_and_exit_2_before_any_photo_is_touched(tmp_path, capsys, kind):
    model = bad_model(tmp_path, kind)
    photos = photos_in(tmp_path)
    before = tree(tmp_path)
    code = main([*map(str, photos), "--model", str(model)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"colorize-run: {model}: "), err
    assert REASONS[kind] in err, err
    assert tree(tmp_path) == before
    assert all(path.read_bytes() == data for path, data in photos.items())


@pytest.mark.parametrize("kind", ["external parent", "external absolute", "external symlink"])
def test_external_data_outside_the_folder_is_refused_before_onnxruntime_opens_the_model(tmp_path, monkeypatch,
                                                                                     kind):
    def no_session(*args, **kwargs):
        raise AssertionError("onnxruntime was asked to open the model")
    monkeypatch.setattr(colorizer_module.ort, "InferenceSession", no_session)
    with pytest.raises(ColorizeError, match="lies outside the model's folder"):
        colorizer_module.Colorizer(bad_model(tmp_path, kind))


def test_external_data_inside_the_folder_is_used(tmp_path, pointwise_onnx):
    (tmp_path / "weights").mkdir()
    model = with_external_gains(tmp_path, "gains.bin")
    (tmp_path / "gains.bin").rename(tmp_path / "weights" / "gains.bin")
    onnx_model = onnx.load(model, load_external_data=False)
    onnx_model.graph.initializer[0].external_data[0].value = "weights/gains.bin"
    onnx.save(onnx_model, model)
    assert external_data_locations(model.read_bytes()) == ["weights/gains.bin"]
    photo = photo_like(40, 50)
    expected = colorizer_module.Colorizer(pointwise_onnx, providers="cpu").colorize(photo)
    np.testing.assert_array_equal(colorizer_module.Colorizer(model, providers="cpu").colorize(photo), expected)


def test_external_data_is_found_in_constants_and_subgraphs():
    tensor = helper.make_tensor("c", TensorProto.FLOAT, [1], [1.0])
    tensor.data_location = TensorProto.EXTERNAL
    tensor.ClearField("float_data")
    tensor.external_data.add(key="location", value="/etc/passwd")
    branch = helper.make_graph([helper.make_node("Constant", [], ["y"], value=tensor)], "branch", [],
                               [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    graph = helper.make_graph([helper.make_node("If", ["flag"], ["y"], then_branch=branch, else_branch=branch)],
                              "outer", [helper.make_tensor_value_info("flag", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    data = helper.make_model(graph).SerializeToString()
    assert external_data_locations(data) == ["/etc/passwd", "/etc/passwd"]


def test_a_model_with_the_guided_interface_passes_the_checks(tmp_path):
    """The guided model's three inputs (the extra two fed zeros in the test window) and two outputs."""
    colorizer = colorizer_module.Colorizer(guided_like(tmp_path / "guided.onnx"), providers="cpu")
    assert [node.name for node in colorizer.session.get_inputs()] == ["L", "hints", "global_hint"]


def test_the_test_window_runs_once_when_the_model_loads(tmp_path, monkeypatch, pointwise_onnx):
    runs = []
    real_session = ort.InferenceSession

    class Counting(real_session):
        def run(self, *args, **kwargs):
            runs.append(args[1])
            return super().run(*args, **kwargs)
    monkeypatch.setattr(colorizer_module.ort, "InferenceSession", Counting)
    colorizer_module.Colorizer(pointwise_onnx, providers="cpu")
    assert len(runs) == 1 and runs[0]["L"].shape == (1, 1, W, W)


def test_a_bad_model_under_ray_is_refused_before_ray_starts(tmp_path, capsys, monkeypatch):
    pytest.importorskip("ray")
    import ray

    monkeypatch.setattr(ray, "init", lambda *args, **kwargs: pytest.fail("Ray was started"))
    model = bad_model(tmp_path, "contract not JSON")
    photos = photos_in(tmp_path, 2)
    before = tree(tmp_path)
    code = main([*map(str, photos), "--model", str(model), "--ray"])
    err = capsys.readouterr().err
    assert code == 2 and err == f"colorize-run: {model}: its colour_contract is not JSON\n"
    assert tree(tmp_path) == before


def test_the_shipped_models_pass_the_checks():
    for name in colorizer_module.SHIPPED_MODELS:
        path = colorizer_module.shipped_model_path(name)
        if path.is_file():
            assert external_data_locations(path.read_bytes()) == []
            colorizer_module.Colorizer(name, providers="cpu")
    assert os.path.isfile(colorizer_module.default_model_path())
