"""colorize_runtime: sizes, gray and colour input, exact stitching, providers, bad models."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from colorize_runtime import Colorizer, ColorizeError, colour
from colorize_runtime.colorizer import window_starts
from tests.conftest import SHIPPED_MODEL, photo_like, pointwise_model

SIZES = [(1, 1), (17, 300), (255, 256), (256, 256), (300, 1000), (1000, 300), (2000, 3000)]


@pytest.fixture(scope="module")
def shipped():
    return Colorizer(providers="cpu")


@pytest.mark.parametrize("height,width", SIZES)
def test_output_has_the_input_size_for_gray_and_colour(shipped, height, width):
    for channels in (1, 3):
        image = photo_like(height, width, channels)
        result = shipped.colorize(image)
        assert result.shape == (height, width, 3) and result.dtype == np.uint8


def test_default_model_is_the_shipped_natural_file():
    assert Colorizer().model_path.resolve() == SHIPPED_MODEL.with_name("colorize_natural.onnx").resolve()


def expected_from_pointwise(image: np.ndarray, gains=(0.5, -0.25)) -> np.ndarray:
    normalised = colour.normalise_lightness(colour.lightness(image))
    ab = np.stack([normalised * g for g in gains], axis=-1) * np.float32(colour.AB_SCALE)
    return colour.recolour(image, ab)


@pytest.mark.parametrize("height,width", [(1, 1), (17, 300), (256, 256), (300, 1000), (700, 513)])
@pytest.mark.parametrize("blend", ["mean", "weighted"])
def test_sliding_window_over_a_pointwise_model_is_exact(pointwise_onnx, height, width, blend):
    image = photo_like(height, width)
    result = Colorizer(pointwise_onnx, providers="cpu", blend=blend, stride=100, size=None).colorize(image)
    np.testing.assert_array_equal(result, expected_from_pointwise(image))


def test_windows_cover_every_pixel_and_overlap():
    assert window_starts(256, 256, 128) == [0]
    assert window_starts(300, 256, 128) == [0, 44]
    starts = window_starts(1000, 256, 128)
    assert starts[0] == 0 and starts[-1] == 1000 - 256
    assert all(b - a <= 128 for a, b in zip(starts, starts[1:]))


def test_gray_input_is_its_own_lightness_and_colour_input_is_reduced_to_lightness(pointwise_onnx):
    colorizer = Colorizer(pointwise_onnx, providers="cpu", saturation=0.2)  # in gamut: no clipping moves L
    bgr = photo_like(64, 80)
    lab = colour.bgr_to_lab(colorizer.colorize(bgr))
    np.testing.assert_allclose(lab[..., 0], colour.lightness(bgr), atol=1.0)  # the input's own L is kept
    gray = bgr[..., 1].copy()
    np.testing.assert_array_equal(colorizer.colorize(gray), colorizer.colorize(np.dstack([gray] * 3)))


def test_gray_table_matches_the_opencv_conversion():
    levels = np.arange(256, dtype=np.uint8)
    exact = colour.bgr_to_lab(np.repeat(levels[None, :, None], 3, axis=2))[0, :, 0]
    np.testing.assert_array_equal(colour.lightness(levels[None, :]), exact[None, :])


def test_shipped_model_colours_a_gray_photo(shipped):
    result = shipped.colorize(photo_like(256, 256, channels=1))
    chroma = np.hypot(*np.moveaxis(colour.bgr_to_lab(result)[..., 1:], -1, 0))
    assert chroma.mean() > 1.0


def test_saturation_zero_gives_gray(pointwise_onnx):
    result = Colorizer(pointwise_onnx, providers="cpu", saturation=0).colorize(photo_like(40, 40))
    assert np.abs(result.astype(int) - result[..., :1]).max() <= 1


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA is available here")
def test_cuda_requested_without_cuda_is_a_clear_error(pointwise_onnx):
    with pytest.raises(ColorizeError, match="CUDA was requested"):
        Colorizer(pointwise_onnx, providers="cuda")


def test_bad_models_are_reported_clearly(tmp_path):
    with pytest.raises(ColorizeError, match="not found"):
        Colorizer(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not onnx")
    with pytest.raises(ColorizeError, match="not a usable ONNX model"):
        Colorizer(junk)
    with pytest.raises(ColorizeError, match="no colour_contract"):
        Colorizer(pointwise_model(tmp_path / "bare.onnx", metadata=False))
    with pytest.raises(ColorizeError, match="expected one input of shape"):
        Colorizer(pointwise_model(tmp_path / "small.onnx", window=128))


def test_bad_arrays_are_rejected(pointwise_onnx):
    colorizer = Colorizer(pointwise_onnx, providers="cpu")
    for bad in (np.zeros((4, 4), np.float32), np.zeros((4, 4, 2), np.uint8), np.zeros(4, np.uint8)):
        with pytest.raises(ColorizeError):
            colorizer.colorize(bad)
