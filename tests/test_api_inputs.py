"""Colorizer.colorize takes what people pass: BGR arrays as OpenCV gives them, RGB arrays when told (rgb=True),
PIL images (returned as PIL images), file paths and an image file's bytes; anything else is a ColorizeError."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorize_runtime import ColorizeError, Colorizer, colorize, files
from tests.conftest import photo_like


@pytest.fixture(scope="module")
def colorizer(pointwise_onnx) -> Colorizer:
    """The stand-in model: each pixel's colour follows its lightness, so a photo read in the wrong channel order
    (its lightness computed from swapped red and blue) comes out different."""
    return Colorizer(pointwise_onnx, providers="cpu")


@pytest.fixture(scope="module")
def bgr() -> np.ndarray:
    return photo_like(40, 60, seed=5)


def test_a_bgr_array_as_before(colorizer, bgr):
    result = colorizer.colorize(bgr)
    assert isinstance(result, np.ndarray) and result.shape == bgr.shape and result.dtype == np.uint8


def test_an_rgb_array_with_rgb_true_gives_rgb(colorizer, bgr):
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    expected = colorizer.colorize(bgr)[..., ::-1]
    np.testing.assert_array_equal(colorizer.colorize(rgb, rgb=True), expected)
    assert not np.array_equal(colorizer.colorize(rgb), expected)  # the blue sunflower: why rgb= exists
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 77, np.uint8)])
    result = colorizer.colorize(rgba, rgb=True)
    np.testing.assert_array_equal(result[..., :3], expected)
    assert (result[..., 3] == 77).all()
    gray = bgr[..., 0]
    np.testing.assert_array_equal(colorizer.colorize(gray, rgb=True), colorizer.colorize(gray)[..., ::-1])


def test_the_one_off_function_takes_rgb_too(pointwise_onnx, bgr):
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    np.testing.assert_array_equal(colorize(rgb, rgb=True, model=pointwise_onnx, providers="cpu"),
                                  colorize(bgr, model=pointwise_onnx, providers="cpu")[..., ::-1])


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "1", "CMYK"])
def test_a_pil_image_comes_back_as_a_pil_image(colorizer, bgr, mode):
    picture = Image.fromarray(np.ascontiguousarray(bgr[..., ::-1])).convert(mode)
    result = colorizer.colorize(picture)
    assert isinstance(result, Image.Image) and result.mode == "RGB" and result.size == (60, 40)
    as_bgr = np.asarray(picture.convert("RGB"))[..., ::-1]
    expected = colorizer.colorize(np.asarray(picture) if mode == "L" else np.ascontiguousarray(as_bgr))
    np.testing.assert_array_equal(np.asarray(result), expected[..., ::-1])


def test_a_pil_image_with_transparency_keeps_it(colorizer, bgr):
    rgba = np.dstack([bgr[..., ::-1], np.arange(40 * 60, dtype=np.uint32).reshape(40, 60) % 256]).astype(np.uint8)
    result = colorizer.colorize(Image.fromarray(rgba))
    assert result.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(result)[..., 3], rgba[..., 3])
    assert colorizer.colorize(Image.fromarray(rgba).convert("LA")).mode == "RGBA"


def test_a_sixteen_bit_pil_image_comes_back_as_eight_bit_rgb(colorizer):
    gray16 = (photo_like(40, 60, channels=1, seed=2).astype(np.uint16) * 257)
    result = colorizer.colorize(Image.fromarray(gray16))  # mode I;16
    assert result.mode == "RGB"
    expected = colorizer.colorize(gray16)
    np.testing.assert_allclose(np.asarray(result, np.float32), expected[..., ::-1] / 257, atol=0.51)
    assert colorizer.colorize(Image.fromarray(gray16.astype(np.int32))).mode == "RGB"  # mode I, 0-65535
    with pytest.raises(ColorizeError, match="mode F"):
        colorizer.colorize(Image.fromarray(gray16.astype(np.float32)))


def test_a_path_or_the_bytes_of_a_file(colorizer, bgr, tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(files.encode_image(bgr, ".png"))
    expected = colorizer.colorize(bgr)
    for given in (path, str(path), path.read_bytes(), bytearray(path.read_bytes())):
        np.testing.assert_array_equal(colorizer.colorize(given), expected)
    np.testing.assert_array_equal(colorizer.colorize(path, rgb=True), expected[..., ::-1])
    with pytest.raises(files.ImageFileError, match="no such file"):
        colorizer.colorize(tmp_path / "missing.jpg")
    with pytest.raises(files.ImageFileError, match="not an image"):
        colorizer.colorize(b"hello")


@pytest.mark.parametrize("given", [None, 3, [[0, 1], [2, 3]], {"x": 1}, np.zeros((4, 4), np.float32)],
                         ids=["None", "int", "list", "dict", "float32 array"])
def test_anything_else_is_a_colorize_error(colorizer, given):
    with pytest.raises(ColorizeError):
        colorizer.colorize(given)


def test_colorize_file_writes_what_colorize_of_the_path_gives(colorizer, bgr, tmp_path: Path):
    source = tmp_path / "in.png"
    source.write_bytes(files.encode_image(bgr, ".png"))
    colorizer.colorize_file(source, tmp_path / "out.png")
    np.testing.assert_array_equal(files.read_image(tmp_path / "out.png"), colorizer.colorize(source))
