"""Embedding: docs/EMBEDDING.md matches the exported files, the all-in-one file and the Node.js example match the
Python runtime."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from colorize_runtime import Colorizer
from tests.conftest import REPOSITORY, photo_like

pytest.importorskip("torch")  # fresh_onnx exports a network

from export import allinone  # noqa: E402

DOC = REPOSITORY / "docs" / "EMBEDDING.md"
NODE_EXAMPLE = REPOSITORY / "examples" / "node"
ONNX_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.UINT8: "uint8"}


def doc_table(heading: str) -> list[list[str]]:
    """Rows (cells stripped of backticks) of the first table under a '## heading' of docs/EMBEDDING.md."""
    section = DOC.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip().strip("|").split("|") for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip().strip("`") for cell in row] for row in rows[2:]]  # header and --- line skipped


def metadata(path) -> dict:
    return {p.key: json.loads(p.value) for p in onnx.load(path).metadata_props}


@pytest.fixture(scope="session")
def rgb_onnx(fresh_onnx):
    """The all-in-one file that export/ wrote beside fresh_onnx."""
    return allinone.allinone_path(fresh_onnx)


def test_export_writes_a_checked_all_in_one_file_with_the_documented_inputs_and_outputs(fresh_onnx, rgb_onnx):
    assert rgb_onnx.name == "fresh_rgb.onnx" and rgb_onnx.parent == fresh_onnx.parent
    onnx.checker.check_model(onnx.load(rgb_onnx), full_check=True)
    for file_name, name, dtype, shape in doc_table("Inputs and outputs"):
        path = fresh_onnx if file_name == "colorize.onnx" else rgb_onnx
        graph = onnx.load(path).graph
        (value,) = [v for v in list(graph.input) + list(graph.output) if v.name == name]
        dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        assert ONNX_DTYPES[value.type.tensor_type.elem_type] == dtype
        assert json.loads(shape.replace("N", '"N"')) == dims


def test_documented_metadata_keys_are_the_keys_in_the_files(fresh_onnx, rgb_onnx):
    rows = doc_table("Metadata")
    assert {key for key, files, _ in rows if "colorize.onnx" in files} == set(metadata(fresh_onnx))
    assert {key for key, files, _ in rows if "colorize_rgb.onnx" in files} == set(metadata(rgb_onnx))


def test_documented_colour_contract_values_are_the_values_in_the_file(fresh_onnx):
    documented = {field: json.loads(value) for field, value, _ in doc_table("The colour contract")}
    assert documented == metadata(fresh_onnx)["colour_contract"]


@pytest.mark.parametrize("gray", [False, True], ids=["colour photo", "gray photo as three equal channels"])
def test_all_in_one_output_matches_the_python_runtime(fresh_onnx, rgb_onnx, gray):
    photo = photo_like(256, 256, channels=1 if gray else 3, seed=5)
    rgb = np.repeat(photo[..., None], 3, axis=2) if gray else np.ascontiguousarray(photo[..., ::-1])
    session = ort.InferenceSession(str(rgb_onnx), providers=["CPUExecutionProvider"])
    got = session.run(None, {"rgb": rgb[None]})[0]
    assert got.dtype == np.uint8 and got.shape == (1, 256, 256, 3)
    expected = Colorizer(fresh_onnx, providers="cpu", size=None, mirror=False).colorize(photo)[..., ::-1]
    assert allinone.share_within_one_level(got[0], expected) >= 0.99


def test_all_in_one_rejects_a_photo_of_another_size(rgb_onnx):
    session = ort.InferenceSession(str(rgb_onnx), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="rgb"):
        session.run(None, {"rgb": np.zeros((1, 128, 128, 3), np.uint8)})


@pytest.fixture(scope="session")
def node_example():
    """The Node.js example with its npm dependencies installed (npm ci when node_modules is missing, as in CI)."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are needed for the Node.js example")
    if not (NODE_EXAMPLE / "node_modules").is_dir():
        # the CPU build of onnxruntime-node ships in its package; skip its optional CUDA download
        env = {**os.environ, "ONNXRUNTIME_NODE_INSTALL": "skip"}
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_EXAMPLE, env=env, check=True, timeout=600)
    return NODE_EXAMPLE / "colorize.mjs"


def run_node(script, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["node", str(script), *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("model, height, width, channels", [
    ("colorize.onnx", 200, 300, 3),      # padded up to one window, two windows across
    ("colorize.onnx", 90, 70, 1),        # gray PNG, padded in both directions
    ("colorize_rgb.onnx", 256, 256, 3),  # the all-in-one file
])
def test_node_example_matches_the_python_runtime(node_example, fresh_onnx, rgb_onnx, tmp_path, model, height,
                                                 width, channels):
    photo = photo_like(height, width, channels, seed=7)
    source, output = tmp_path / "photo.png", tmp_path / "photo_color.png"
    cv2.imwrite(str(source), photo)
    result = run_node(node_example, fresh_onnx if model == "colorize.onnx" else rgb_onnx, source, output)
    assert result.returncode == 0, result.stderr
    got = cv2.imread(str(output), cv2.IMREAD_COLOR)
    expected = Colorizer(fresh_onnx, providers="cpu", size=None, mirror=False).colorize(photo)
    assert got.shape == expected.shape
    assert allinone.share_within_one_level(got, expected) >= 0.99


def test_node_example_reports_bad_input(node_example, rgb_onnx, tmp_path):
    source = tmp_path / "small.png"
    cv2.imwrite(str(source), photo_like(100, 120))
    result = run_node(node_example, rgb_onnx, source, tmp_path / "out.png")
    assert result.returncode == 1 and "256 x 256" in result.stderr
    assert not (tmp_path / "out.png").exists()
    assert run_node(node_example, rgb_onnx).returncode == 2
