"""The web page (examples/web) as a new user meets it (issue 30): a photo chosen while the model loads is coloured
once it has loaded, load errors are said on the page, the saturation slider rescales the colours without running
the network again, a progress bar shows while the page works, and a before / after slider; the page as shipped
colours as colorize-run does by default. In headless Chromium, with the freshly exported all-in-one file
(tests/test_embedding.py's fixtures), or the shipped one."""
from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np
import pytest

from tests.test_embedding import (  # noqa: F401 (fixtures used by name)
    WEB_EXAMPLE, colorize_run, drive_page, expected, photo_of, rgb_onnx, rgb_session, sample_photo,
    serving_the_page, shipped_page, web_page)

pytest.importorskip("torch")  # fresh_onnx exports a network

from export import allinone  # noqa: E402

ORT_MODULE = "/examples/web/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs"


def saturated(rgb: np.ndarray, saturation: float) -> np.ndarray:
    """lab.mjs's saturate in numpy (float64): each pixel's CIELAB a, b times saturation, L kept, clipped."""
    decode = lambda v: np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)  # noqa: E731
    encode = lambda v: np.where(v <= 0.0031308, v * 12.92, 1.055 * np.maximum(v, 0) ** (1 / 2.4) - 0.055)  # noqa
    f = lambda t: np.where(t > 216 / 24389, np.cbrt(t), (24389 / 27 * t + 16) / 116)  # noqa: E731
    f_inverse = lambda v: np.where(v <= 6 / 29, (v - 16 / 116) * 108 / 841, v ** 3)  # noqa: E731
    linear = decode(rgb.astype(np.float64) / 255)
    to_xyz = np.array([[0.412453, 0.35758, 0.180423], [0.212671, 0.71516, 0.072169], [0.019334, 0.119193, 0.950227]])
    white = np.array([0.950456, 1.0, 1.088754])
    x, y, z = np.moveaxis(linear @ to_xyz.T, -1, 0)
    fy = f(y)
    fx, fz = (fy + saturation * (f(v / white[i]) - fy) for v, i in ((x, 0), (z, 2)))
    xyz = np.stack([white[0] * f_inverse(fx), y, white[2] * f_inverse(fz)], -1)
    back = xyz @ np.array([[3.240479, -1.53715, -0.498535], [-0.969256, 1.875991, 0.041556],
                           [0.055648, -0.204043, 1.057311]]).T
    return np.floor(255 * encode(np.clip(back, 0, 1)) + 0.5).astype(np.uint8)


@pytest.mark.parametrize("height, width, gray", [(864, 1152, False), (200, 1000, True)],
                         ids=["1152x864 colour", "200x1000 gray"])
def test_the_pages_automatic_view_is_colorize_runs_default(shipped_page, tmp_path, capsys, height, width, gray):
    """The page as a person opens it (models/colorize_rgb.onnx, no ?model=) colours a photo as `colorize-run
    PHOTO` does, with its default model (natural), within the all-in-one parity bounds."""
    source, output, colorize_run_output = tmp_path / "photo.png", tmp_path / "download.png", tmp_path / "cli.png"
    cv2.imwrite(str(source), sample_photo(height, width, gray))
    facts = drive_page(shipped_page, source, output)
    assert facts["runs"] == 1 and facts["download"] == "photo_color.png"
    colorize_run(capsys, source, "-o", colorize_run_output)  # no --model: the default
    got, wanted = (cv2.imread(str(path), cv2.IMREAD_COLOR) for path in (output, colorize_run_output))
    within_one, within_two = allinone.shares_within(got, wanted)
    with capsys.disabled():  # pytest -s shows it
        print(f"\nthe page's automatic view vs colorize-run, {width} x {height}: {within_one:.2%} within 1 level, "
              f"{within_two:.2%} within 2")
    assert allinone.agrees((within_one, within_two))


def test_a_photo_chosen_while_the_model_loads_is_coloured_once_it_has_loaded(web_page, expected, tmp_path):
    source, output = tmp_path / "photo.png", tmp_path / "download.png"
    cv2.imwrite(str(source), photo_of(100, 60, False))
    facts = drive_page(web_page, source, output, "--early")  # the model's download held until the photo is in
    assert facts["queued"] == "Loading the model… photo.png will be coloured once it has loaded."
    assert facts["runs"] == 1 and facts["download"] == "photo_color.png"
    assert allinone.agrees(allinone.shares_within(cv2.imread(str(output)), expected(100, 60, False)))


@pytest.mark.parametrize("files, query, message", [
    ({ORT_MODULE: "missing"}, "", "Could not load onnxruntime-web from examples/web/node_modules/: run npm ci "
                                  "--omit=dev in examples/web"),
    ({}, "?model=/missing.onnx", "Could not load the model /missing.onnx: HTTP 404"),
], ids=["onnxruntime-web not installed", "no model file"])
def test_load_errors_are_said_on_the_page(tmp_path, files, query, message):
    with serving_the_page({route: tmp_path / name for route, name in files.items()}) as url:
        result = subprocess.run(["node", str(WEB_EXAMPLE / "drive.mjs"), url + query, "--until-loaded"],
                                capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout.splitlines()[-1])
    assert page["state"] == "error" and page["status"].startswith(message), page


def test_the_saturation_slider_rescales_the_colours_without_the_network(web_page, rgb_session, expected, tmp_path):
    source, output = tmp_path / "photo.png", tmp_path / "download.png"
    cv2.imwrite(str(source), photo_of(333, 500, False))
    facts = drive_page(web_page, source, output, "--saturation", "1.5")
    assert facts["runs"] == 1  # the network ran for the photo only, not for the slider
    got = cv2.imread(str(output))[..., ::-1]
    # the all-in-one file's colours at saturation 1 (here in Python's onnxruntime, whose float noise differs from
    # the page's WASM build in a value here and there), rescaled by lab.mjs's formula
    at_one = rgb_session.run(None, allinone.feeds(photo_of(333, 500, False)))[0][0]
    within_one, within_two = allinone.shares_within(got, saturated(at_one, 1.5))
    assert within_one >= 0.999 and within_two == 1.0
    # against the runtime at saturation 1.5, which scales before its own 8-bit rounding (docs/EMBEDDING.md)
    within_one, within_two = allinone.shares_within(got, expected(333, 500, False, 1.5)[..., ::-1])
    print(f"the page at saturation 1.5 vs colorize-run's: {within_one:.2%} within 1 level, {within_two:.2%} within 2")
    assert within_one >= 0.98 and within_two >= 0.995


def test_a_progress_bar_while_the_page_works_and_a_before_after_slider(web_page, tmp_path):
    source, output = tmp_path / "photo.png", tmp_path / "download.png"
    cv2.imwrite(str(source), photo_of(256, 256, True))
    facts = drive_page(web_page, source, output, "--before-after", "30")
    seen = facts["progressSeen"]
    assert {"loading", "running"} <= {state for state, _ in seen}  # shown while the model loads and runs
    shares = [value for state, value in seen if state == "loading" and value is not None]
    assert shares and shares[-1] == 1 and all(0 < share <= 1 for share in shares)  # the model's download
    assert facts["beforeClip"] == "inset(0px 70% 0px 0px)"  # the photo before, over the left 30 %
