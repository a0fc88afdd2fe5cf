"""Embedding: docs/EMBEDDING.md matches the exported files; the all-in-one file, the Node.js example and the web
page (in headless Chromium) give what the Python runtime gives, at every size the export checks."""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from colorize_runtime import Colorizer, cli, colorizer, colour
from tests.conftest import REPOSITORY, SAMPLE_PHOTO, photo_like

pytest.importorskip("torch")  # fresh_onnx exports a network

from export import allinone  # noqa: E402

DOC = REPOSITORY / "docs" / "EMBEDDING.md"
NODE_EXAMPLE = REPOSITORY / "examples" / "node"
WEB_EXAMPLE = REPOSITORY / "examples" / "web"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ONNX_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.UINT8: "uint8"}
SIZES = [pytest.param(height, width, gray, id=f"{height}x{width} {'gray' if gray else 'colour'}")
         for height, width in allinone.PARITY_SIZES for gray in (False, True)]


def doc_table(heading: str, index: int = 0) -> list[list[str]]:
    """Rows (cells stripped of backticks) of the index-th table under a '## heading' of docs/EMBEDDING.md."""
    section = DOC.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    tables = re.findall(r"(?m)(?:^\|.*\n?)+", section)
    rows = [line.strip().strip("|").split("|") for line in tables[index].splitlines()]
    return [[cell.strip().strip("`") for cell in row] for row in rows[2:]]  # header and --- line skipped


def metadata(path) -> dict:
    return {p.key: json.loads(p.value) for p in onnx.load(path).metadata_props}


@functools.cache
def photo_of(height: int, width: int, gray: bool) -> np.ndarray:
    """A gray (H, W) or BGR test photo of that size, the same for every test that asks."""
    return photo_like(height, width, channels=1 if gray else 3, seed=height + width)


@pytest.fixture(scope="session")
def rgb_onnx(fresh_onnx):
    """The all-in-one file that export/ wrote beside fresh_onnx (export checked it against the runtime first)."""
    return allinone.allinone_path(fresh_onnx)


@pytest.fixture(scope="session")
def rgb_session(rgb_onnx):
    return ort.InferenceSession(str(rgb_onnx), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="session")
def expected(fresh_onnx):
    """expected(height, width, gray, saturation=1.0): Colorizer(fresh_onnx).colorize (defaults) of photo_of, BGR."""
    colorizers = {}

    @functools.cache
    def colorize(height: int, width: int, gray: bool, saturation: float = 1.0) -> np.ndarray:
        if saturation not in colorizers:
            colorizers[saturation] = Colorizer(fresh_onnx, providers="cpu", saturation=saturation)
        return colorizers[saturation].colorize(photo_of(height, width, gray))

    return colorize


def test_export_writes_a_checked_all_in_one_file_with_the_documented_inputs_and_outputs(fresh_onnx, rgb_onnx):
    assert rgb_onnx.name == "fresh_rgb.onnx" and rgb_onnx.parent == fresh_onnx.parent
    onnx.checker.check_model(onnx.load(rgb_onnx), full_check=True)
    for file_name, name, dtype, shape in doc_table("Inputs and outputs"):
        path = fresh_onnx if file_name == "colorize_natural.onnx" else rgb_onnx  # the default's network file
        graph = onnx.load(path).graph
        (value,) = [v for v in list(graph.input) + list(graph.output) if v.name == name]
        dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        assert ONNX_DTYPES[value.type.tensor_type.elem_type] == dtype
        assert json.loads(re.sub(r"([A-Z])", r'"\1"', shape)) == dims


def test_documented_metadata_keys_are_the_keys_in_the_files(fresh_onnx, rgb_onnx):
    rows = doc_table("Metadata")
    assert {key for key, files, _ in rows if "colorize_natural.onnx" in files} == set(metadata(fresh_onnx))
    assert {key for key, files, _ in rows if "colorize_rgb.onnx" in files} == set(metadata(rgb_onnx))


def test_documented_colour_contract_values_are_the_values_in_the_file(fresh_onnx):
    documented = {field: json.loads(value) for field, value, _ in doc_table("The colour contract")}
    assert documented == metadata(fresh_onnx)["colour_contract"]


def test_all_in_one_metadata_names_the_runtime_defaults_it_computes(fresh_onnx, rgb_onnx):
    runtime = Colorizer(fresh_onnx, providers="cpu")
    entry = metadata(rgb_onnx)["all_in_one"]
    assert (entry["working_resolution"], entry["stride"], entry["mirror"], entry["blend"]) == \
        (runtime.size, runtime.stride, runtime.mirror, runtime.blend) == (160, 128, True, "mean")
    assert {key: value for key, value in metadata(rgb_onnx).items() if key != "all_in_one"} == metadata(fresh_onnx)


@pytest.mark.parametrize("height, width, gray", SIZES)
def test_all_in_one_output_matches_the_python_runtime(rgb_session, expected, height, width, gray):
    got = rgb_session.run(None, allinone.feeds(photo_of(height, width, gray)))[0]
    assert got.dtype == np.uint8 and got.shape == (1, height, width, 3)
    assert allinone.agrees(allinone.shares_within(got[0], expected(height, width, gray)[..., ::-1]))


def test_all_in_one_saturation_is_the_runtimes(rgb_session, expected):
    got = rgb_session.run(None, allinone.feeds(photo_of(333, 500, False), saturation=0.5))[0][0]
    assert allinone.agrees(allinone.shares_within(got, expected(333, 500, False, 0.5)[..., ::-1]))
    gray = rgb_session.run(None, allinone.feeds(photo_of(333, 500, False), saturation=0.0))[0][0].astype(int)
    assert np.abs(gray - gray[..., :1]).max() <= 1  # no colour left


def test_all_in_one_rejects_a_photo_with_four_channels(rgb_session):
    with pytest.raises(Exception, match="rgb"):
        rgb_session.run(None, {"rgb": np.zeros((1, 32, 32, 4), np.uint8), "saturation": np.array(1, np.float32)})


def test_export_refuses_an_all_in_one_file_that_differs_from_the_runtime(fresh_onnx, pointwise_onnx, tmp_path,
                                                                           monkeypatch, capsys):
    """Built around another network than the runtime's reference, the file fails the parity check: not written."""
    build = allinone.build
    monkeypatch.setattr(allinone, "build", lambda network, size, stride: build(onnx.load(pointwise_onnx), size,
                                                                                 stride))
    monkeypatch.setattr(allinone, "PARITY_SIZES", ((100, 60),))
    output = tmp_path / "refused_rgb.onnx"
    with pytest.raises(SystemExit, match="differs from the Python runtime on 100x60 colour, 100x60 gray"):
        allinone.write(fresh_onnx, SAMPLE_PHOTO, output)
    assert not output.exists() and not list(tmp_path.iterdir())


def test_all_in_one_files_are_named_after_their_model_the_default_models_colorize_rgb(tmp_path):
    """colorize_rgb.onnx is the default model's (natural) file, the one apps, the page and the Node example use;
    another shipped model's is colorize_NAME_rgb.onnx; any other network's NAME_rgb.onnx."""
    assert colorizer.DEFAULT_MODEL == "natural" and allinone.ALL_IN_ONE_MODELS[0] == colorizer.DEFAULT_MODEL
    assert allinone.allinone_path(tmp_path / "colorize_natural.onnx") == tmp_path / "colorize_rgb.onnx"
    assert allinone.allinone_path(tmp_path / "colorize.onnx") == tmp_path / "colorize_vivid_rgb.onnx"
    assert allinone.allinone_path(tmp_path / "best.onnx") == tmp_path / "best_rgb.onnx"
    shipped = {allinone.allinone_path(allinone.shipped_network(name)) for name in allinone.ALL_IN_ONE_MODELS}
    assert shipped == set((REPOSITORY / "models").glob("*_rgb.onnx"))  # no other all-in-one file ships


def test_export_allinone_without_arguments_writes_every_shipped_all_in_one_file(monkeypatch):
    written = []
    monkeypatch.setattr(allinone, "write", lambda network, photo, output=None: written.append((network, output)))
    allinone.main([])
    assert written == [(REPOSITORY / "models" / "colorize_natural.onnx", None),
                       (REPOSITORY / "models" / "colorize.onnx", None)]


@pytest.fixture(scope="module")
def parity_photo_files(tmp_path_factory):
    """examples/sample.jpg at every PARITY_SIZES, colour and gray, as PNG files (lossless: colorize-run and the
    all-in-one file see the same pixels)."""
    folder = tmp_path_factory.mktemp("parity_photos")
    paths = {}
    for name, photo in allinone.parity_photos(SAMPLE_PHOTO).items():
        paths[name] = folder / f"{name.replace(' ', '_')}.png"
        cv2.imwrite(str(paths[name]), photo)
    return paths


@pytest.mark.parametrize("model", allinone.ALL_IN_ONE_MODELS)
def test_shipped_all_in_one_file_gives_colorize_runs_colours_at_every_size(model, parity_photo_files, tmp_path,
                                                                          capsys):
    """Each shipped all-in-one file wraps its model's network file (same metadata) and gives `colorize-run --model
    NAME`'s colours, within the parity bounds, on the sample photo at every PARITY_SIZES (1 x 1 to 12 MP, a
    panorama), colour and gray. Regenerate them (`python -m export.allinone`) whenever a network file changes."""
    network = allinone.shipped_network(model)
    shipped_rgb = allinone.allinone_path(network)
    assert {key: value for key, value in metadata(shipped_rgb).items() if key != "all_in_one"} == metadata(network)
    assert len(allinone.PARITY_SIZES) >= 6 and (1, 1) in allinone.PARITY_SIZES
    code = cli.main([*map(str, parity_photo_files.values()), "--model", model, "-o", str(tmp_path), "-q",
                     "--threads", "2"])
    assert code == 0, capsys.readouterr().err
    session = ort.InferenceSession(str(shipped_rgb), providers=["CPUExecutionProvider"])
    shares = {}
    for name, path in parity_photo_files.items():
        got = session.run(None, allinone.feeds(cv2.imread(str(path), cv2.IMREAD_UNCHANGED)))[0][0]
        colorize_run = cv2.imread(str(tmp_path / f"{path.stem}_color.png"), cv2.IMREAD_COLOR)[..., ::-1]
        shares[name] = allinone.shares_within(got, colorize_run)
    with capsys.disabled():  # pytest -s shows them
        print(f"\n{shipped_rgb.name} vs colorize-run --model {model}, within 1 level: "
              + ", ".join(f"{name} {one:.2%}" for name, (one, _) in shares.items()))
    assert all(allinone.agrees(share) for share in shares.values()), shares


def npm_packages_missing(folder) -> list[str]:
    """The packages of folder's package.json, dependencies and devDependencies, that its node_modules lacks (or
    holds at another version than an exact pin): after `npm ci --omit=dev`, as docs/EMBEDDING.md says for the
    page, the test driver's playwright-core."""
    manifest = json.loads((folder / "package.json").read_text())
    missing = []
    for name, version in {**manifest.get("dependencies", {}), **manifest.get("devDependencies", {})}.items():
        installed = folder / "node_modules" / name / "package.json"
        exact = re.fullmatch(r"\d+\.\d+\.\d+", version)
        if not installed.is_file() or (exact and json.loads(installed.read_text()).get("version") != version):
            missing.append(name)
    return missing


def test_npm_packages_missing_finds_what_npm_ci_omit_dev_leaves_out(tmp_path):
    (tmp_path / "package.json").write_text(json.dumps({"dependencies": {"a": "1.2.3", "c": "^2.0.0"},
                                                       "devDependencies": {"b": "4.5.6"}}))
    for name, version in (("a", "1.2.3"), ("c", "2.1.0")):  # as npm ci --omit=dev installs them
        (tmp_path / "node_modules" / name).mkdir(parents=True)
        (tmp_path / "node_modules" / name / "package.json").write_text(json.dumps({"version": version}))
    assert npm_packages_missing(tmp_path) == ["b"]
    (tmp_path / "node_modules" / "a" / "package.json").write_text(json.dumps({"version": "1.0.0"}))
    assert npm_packages_missing(tmp_path) == ["a", "b"]  # another version than the pin: npm ci again


@pytest.fixture(scope="session")
def node_example():
    """The Node.js example with its npm dependencies installed (npm ci when any is missing, as in CI)."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are needed for the Node.js example")
    if npm_packages_missing(NODE_EXAMPLE):
        # the CPU build of onnxruntime-node ships in its package; skip its optional CUDA download
        env = {**os.environ, "ONNXRUNTIME_NODE_INSTALL": "skip"}
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_EXAMPLE, env=env, check=True, timeout=600)
    return NODE_EXAMPLE / "colorize.mjs"


def run_node(script, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["node", str(script), *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("height, width, gray", SIZES)
def test_node_example_with_the_all_in_one_file_matches_the_python_runtime(node_example, rgb_onnx, expected, tmp_path,
                                                                          height, width, gray):
    source, output = tmp_path / "photo.png", tmp_path / "photo_color.png"
    cv2.imwrite(str(source), photo_of(height, width, gray))  # PNG: lossless, both sides decode the same pixels
    result = run_node(node_example, rgb_onnx, source, output)
    assert result.returncode == 0, result.stderr
    got = cv2.imread(str(output), cv2.IMREAD_COLOR)
    assert got.shape == (height, width, 3)
    assert allinone.agrees(allinone.shares_within(got, expected(height, width, gray)))


@pytest.mark.parametrize("height, width, channels", [
    (200, 300, 3),  # padded up to one window, two windows across
    (90, 70, 1),    # gray PNG, padded in both directions
])
def test_node_example_with_the_network_file_matches_the_runtime_at_full_size(node_example, fresh_onnx, tmp_path,
                                                                             height, width, channels):
    photo = photo_like(height, width, channels, seed=7)
    source, output = tmp_path / "photo.png", tmp_path / "photo_color.png"
    cv2.imwrite(str(source), photo)
    result = run_node(node_example, fresh_onnx, source, output, "--saturation", "0.8")
    assert result.returncode == 0, result.stderr
    expected_bgr = Colorizer(fresh_onnx, providers="cpu", size=None, mirror=False, saturation=0.8).colorize(photo)
    assert allinone.agrees(allinone.shares_within(cv2.imread(str(output), cv2.IMREAD_COLOR), expected_bgr))


def test_node_example_with_the_shipped_all_in_one_file_gives_colorize_runs_default_colours(node_example, tmp_path,
                                                                                            capsys):
    """As docs/EMBEDDING.md runs it: `node colorize.mjs ../../models/colorize_rgb.onnx photo.png out.png` is
    `colorize-run photo.png` (the default model, natural)."""
    source, output, wanted = tmp_path / "photo.png", tmp_path / "photo_color.png", tmp_path / "cli.png"
    cv2.imwrite(str(source), sample_photo(333, 500))
    result = run_node(node_example, REPOSITORY / "models" / "colorize_rgb.onnx", source, output)
    assert result.returncode == 0, result.stderr
    colorize_run(capsys, source, "-o", wanted)
    got, expected_bgr = (cv2.imread(str(path), cv2.IMREAD_COLOR) for path in (output, wanted))
    assert allinone.agrees(allinone.shares_within(got, expected_bgr))


def test_node_example_reports_bad_input(node_example, rgb_onnx, tmp_path):
    source = tmp_path / "broken.png"
    source.write_bytes(b"not a png")
    result = run_node(node_example, rgb_onnx, source, tmp_path / "out.png")
    assert result.returncode == 1 and result.stderr.startswith("colorize: ")
    assert not (tmp_path / "out.png").exists()
    assert run_node(node_example, rgb_onnx).returncode == 2
    assert run_node(node_example, rgb_onnx, source, tmp_path / "out.png", "--saturation", "lots").returncode == 2


@contextlib.contextmanager
def serving_the_page(files: dict | None = None):
    """The repository served as examples/web/serve.py serves it (127.0.0.1, cross-origin isolated), files at the
    URL paths given; the page's URL. Skipped when Chromium, node or npm is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)")
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are needed for the web page (onnxruntime-web) and its driver (playwright-core)")
    if npm_packages_missing(WEB_EXAMPLE):  # playwright-core too, which `npm ci --omit=dev` leaves out
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB_EXAMPLE, check=True, timeout=600)
    spec = importlib.util.spec_from_file_location("serve", WEB_EXAMPLE / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    httpd = serve.server(0, files=files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/examples/web/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="session")
def web_page(rgb_onnx):
    """The page with the freshly exported all-in-one file (at /fresh_rgb.onnx); its URL."""
    with serving_the_page({"/fresh_rgb.onnx": rgb_onnx}) as url:
        yield f"{url}?model=/fresh_rgb.onnx"


@pytest.fixture(scope="session")
def shipped_page():
    """The page as a person gets it, with the shipped all-in-one and guided files; its URL."""
    with serving_the_page() as url:
        yield url


def drive_page(url, photo_path, output, *options) -> dict:
    result = subprocess.run(["node", str(WEB_EXAMPLE / "drive.mjs"), url, str(photo_path), str(output), *options],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("height, width, gray, saturation", [
    (768, 1024, False, None),
    (200, 1000, True, "1.5"),  # a panorama (several windows), and the slider moved
    (3000, 4000, False, None),  # 12 MP: the tab does not run out of memory
], ids=["768x1024 colour", "200x1000 gray, saturation 1.5", "3000x4000 colour"])
def test_web_page_download_matches_the_python_runtime(web_page, expected, tmp_path, height, width, gray, saturation):
    source, output = tmp_path / "photo.png", tmp_path / "download.png"
    cv2.imwrite(str(source), photo_of(height, width, gray))
    facts = drive_page(web_page, source, output, *(["--saturation", saturation] if saturation else []))
    assert facts["crossOriginIsolated"] and facts["download"] == "photo_color.png"
    got = cv2.imread(str(output), cv2.IMREAD_COLOR)
    assert got.shape == (height, width, 3)
    reference = expected(height, width, gray, float(saturation or 1))
    assert allinone.agrees(allinone.shares_within(got, reference))


GUIDED_SECTION = "The guided file: pins, a reference photo, suggested colours"


def test_documented_guided_contract_is_the_shipped_guided_files():
    """docs/EMBEDDING.md's tables of the guided file: its inputs and outputs, and the fields of its "hints"
    metadata (pin_size and reference_sigma with their values)."""
    path = REPOSITORY / "models" / "colorize_guided.onnx"
    graph = onnx.load(path).graph
    values = {value.name: value for value in list(graph.input) + list(graph.output)}
    rows = doc_table(GUIDED_SECTION)
    assert [name for name, *_ in rows] == list(values)
    for name, dtype, shape, _ in rows:
        tensor = values[name].type.tensor_type
        assert ONNX_DTYPES[tensor.elem_type] == dtype
        assert json.loads(re.sub(r"([A-Z])", r'"\1"', shape)) == [d.dim_param or d.dim_value for d in tensor.shape.dim]
    hints = metadata(path)["hints"]
    fields = {field.strip("`"): value
              for names, value, _ in doc_table(GUIDED_SECTION, 1) for field in names.split(", ")}
    assert set(fields) == set(hints)
    assert json.loads(fields["pin_size"]) == hints["pin_size"] == 3
    assert json.loads(fields["reference_sigma"]) == hints["reference_sigma"]
    assert json.loads(fields["reference_strength"]) == hints["reference_strength"]
    assert len(hints["ab_cells"]) == values["global_hint"].type.tensor_type.shape.dim[1].dim_value


def test_documented_guided_python_example_colours_the_pin(tmp_path):
    """The guided section's Python example, run as written beside a photo: the pinned pixel gets the pin's a, b."""
    section = DOC.read_text().split(f"## {GUIDED_SECTION}\n", 1)[1].split("\n## ", 1)[0]
    (example,) = re.findall(r"```python\n(.*?)```", section, re.S)
    (tmp_path / "models").symlink_to(REPOSITORY / "models")
    cv2.imwrite(str(tmp_path / "photo.png"), sample_photo(240, 320, gray=True))
    result = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("most likely a, b at (30, 200):")
    out = cv2.imread(str(tmp_path / "photo_color.png"))
    assert out.shape == (256, 256, 3)
    pinned = colour.bgr_to_lab(np.array([[[192, 135, 48]]], np.uint8))[0, 0, 1:]  # #3087c0
    assert np.linalg.norm(colour.bgr_to_lab(out)[80, 120, 1:] - pinned) < 10


def sample_photo(height: int, width: int, gray: bool = False) -> np.ndarray:
    photo = cv2.resize(cv2.imread(str(SAMPLE_PHOTO)), (width, height), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY) if gray else photo


def colorize_run(capsys, *argv) -> str:
    """colorize-run's standard output for argv (exit 0 asserted)."""
    code = cli.main([str(arg) for arg in argv] + ["--threads", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out
