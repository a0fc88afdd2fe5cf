"""The speed work keeps behaviour: int8 close to fp32, batches and the vectorised blend equal the plain window
loop, the working-resolution knob, conversions in strips, bounded memory. (Times are the benchmark's business.)"""
from __future__ import annotations

import tracemalloc

import cv2
import numpy as np
import pytest

from colorize_runtime import Colorizer, ColorizeError, colour
from colorize_runtime.colorizer import int8_model_path, scale_down, window_starts
from tests.conftest import photo_like


@pytest.fixture(scope="module")
def fresh(fresh_onnx):
    return Colorizer(fresh_onnx, providers="cpu")


def plain_window_loop(colorizer: Colorizer, lightness_plane: np.ndarray, blend: str) -> np.ndarray:
    """The seed's sliding window, one window per call, full-size weight plane: the reference."""
    win = colorizer.window
    h, w = lightness_plane.shape
    normalised = colour.normalise_lightness(lightness_plane)
    ramp = np.ones(win, np.float32) if blend == "mean" else colorizer.window_ramp
    weight = np.outer(ramp, ramp)
    ab_sum, weight_sum = np.zeros((2, h, w), np.float32), np.zeros((h, w), np.float32)
    for y in window_starts(h, win, colorizer.stride):
        for x in window_starts(w, win, colorizer.stride):
            patch = normalised[None, None, y:y + win, x:x + win]
            ab_sum[:, y:y + win, x:x + win] += colorizer.session.run(None, {"L": patch})[0][0] * weight
            weight_sum[y:y + win, x:x + win] += weight
    return colour.denormalise_ab((ab_sum / weight_sum).transpose(1, 2, 0))


@pytest.mark.parametrize("blend", ["mean", "weighted"])
def test_batched_vectorised_stitching_equals_the_plain_window_loop(fresh_onnx, blend):
    lightness_plane = colour.lightness(photo_like(300, 520, channels=1))
    for batch in (1, 4):
        colorizer = Colorizer(fresh_onnx, providers="cpu", blend=blend, stride=100, batch=batch, size=None)
        np.testing.assert_allclose(colorizer.predict_ab(lightness_plane),
                                   plain_window_loop(colorizer, lightness_plane, blend), atol=1e-3)


def test_mirror_is_on_at_a_working_resolution_and_off_at_native_resolution(pointwise_onnx):
    assert Colorizer(pointwise_onnx, providers="cpu").mirror                  # one more pass of a small image
    assert not Colorizer(pointwise_onnx, providers="cpu", size=None).mirror   # it would double the run time
    assert not Colorizer(pointwise_onnx, providers="cpu", mirror=False).mirror
    assert Colorizer(pointwise_onnx, providers="cpu", size=None, mirror=True).mirror


def test_mirror_averages_the_photo_and_its_mirror_image_so_a_mirrored_photo_gets_mirrored_colours(fresh_onnx):
    """mirror = the mean of the photo's colours and its mirror image's, flipped back; a photo
    flipped left to right therefore comes out exactly flipped, whatever the network's own asymmetries."""
    photo = photo_like(200, 300)
    one_view = Colorizer(fresh_onnx, providers="cpu", size=None, mirror=False)
    both = Colorizer(fresh_onnx, providers="cpu", size=None, mirror=True)
    expected = (one_view.predict_colour(photo) + one_view.predict_colour(photo[:, ::-1])[:, ::-1]) / 2
    np.testing.assert_allclose(both.predict_colour(photo), expected, atol=1e-4)
    assert np.abs(one_view.predict_colour(photo) - expected).max() > 0.1  # this untrained network is not symmetric
    np.testing.assert_array_equal(both.colorize(np.ascontiguousarray(photo[:, ::-1])), both.colorize(photo)[:, ::-1])


def test_export_writes_an_int8_model_whose_colours_are_close_to_fp32(fresh_onnx, fresh):
    assert int8_model_path(fresh_onnx).is_file()
    int8 = Colorizer(fresh_onnx, providers="cpu", precision="int8")
    assert int8.model_path == int8_model_path(fresh_onnx) and int8.contract == fresh.contract
    assert int8.metadata["quantization"]["format"] == "static QDQ"
    photo = photo_like(256, 384)
    fp32_ab, int8_ab = (c.predict_ab(colour.lightness(photo)) for c in (fresh, int8))
    assert np.abs(int8_ab - fp32_ab).mean() <= 0.2 * np.abs(fp32_ab).mean() + 0.5  # ab units
    difference = np.abs(int8.colorize(photo).astype(int) - fresh.colorize(photo))
    assert difference.mean() < 2 and np.percentile(difference, 99) <= 8


def test_int8_without_its_file_or_an_unknown_precision_is_a_clear_error(pointwise_onnx):
    with pytest.raises(ColorizeError, match=r"pointwise\.int8\.onnx: int8 model file not found"):
        Colorizer(pointwise_onnx, precision="int8")
    with pytest.raises(ColorizeError, match="unknown precision 'fp16'"):
        Colorizer(pointwise_onnx, precision="fp16")
    with pytest.raises(ColorizeError, match="batch"):
        Colorizer(pointwise_onnx, batch=0)


def test_working_size_keeps_the_photo_size_and_small_photos_are_native(pointwise_onnx):
    photo = photo_like(300, 500, channels=1)
    small = Colorizer(pointwise_onnx, providers="cpu", size=128)
    assert small.predict_colour(photo).shape == (128, 213, 2)  # the network's view: short side 128
    assert small.colorize(photo).shape == (300, 500, 3)
    native = Colorizer(pointwise_onnx, providers="cpu", size=None).colorize(photo)
    np.testing.assert_array_equal(Colorizer(pointwise_onnx, providers="cpu", size=300).colorize(photo), native)
    # a pointwise colour survives the round trip through the working size (smooth photo: little is lost)
    assert np.abs(small.colorize(photo).astype(int) - native).mean() < 3


def test_conversions_in_strips_equal_whole_image_conversions(monkeypatch):
    bgr = photo_like(301, 257)
    lightness_plane = colour.lightness(bgr)
    np.testing.assert_array_equal(lightness_plane, colour.bgr_to_lab(bgr)[..., 0])
    ab = colour.bgr_to_lab(bgr)[..., 1:].copy()
    small_ab = cv2.resize(ab, (40, 47), interpolation=cv2.INTER_AREA)
    whole, whole_from_small = colour.recolour(bgr, ab), colour.recolour(bgr, small_ab)
    monkeypatch.setattr(colour, "STRIP_PIXELS", 1000)  # 3 rows per strip, the last one shorter
    np.testing.assert_array_equal(colour.recolour(bgr, ab), whole)
    # scaling up is interpolated at 1/32 pixel in warpAffine: the strip boundaries may move a value by one level
    assert np.abs(colour.recolour(bgr, small_ab).astype(int) - whole_from_small).max() <= 1
    np.testing.assert_array_equal(colour.lightness(bgr), lightness_plane)
    assert np.abs(whole.astype(int) - bgr).max() <= 1  # BGR -> Lab -> BGR round trip
    scaled_up_first = colour.recolour(bgr, cv2.resize(small_ab, (257, 301), interpolation=cv2.INTER_LINEAR))
    assert np.abs(whole_from_small.astype(int) - scaled_up_first).max() <= 1  # the same bilinear scaling
    gray = bgr[..., 1].copy()
    np.testing.assert_array_equal(colour.lightness(gray), colour.bgr_to_lab(np.dstack([gray] * 3))[..., 0])


def test_video_frames_made_in_i420_keep_the_luma_and_match_recolour_in_chroma():
    bgr = photo_like(300, 256)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)  # a colour film turned black and white
    small_ab = cv2.resize(colour.bgr_to_lab(bgr)[..., 1:].copy(), (40, 47), interpolation=cv2.INTER_AREA)
    frame = colour.recolour_i420(gray, small_ab)
    assert frame.shape == (450, 256) and frame.dtype == np.uint8
    np.testing.assert_array_equal(frame[:300], np.round(16 + gray * (219 / 255)).astype(np.uint8))  # TV-range Y
    via_bgr = cv2.cvtColor(colour.recolour(gray, small_ab), cv2.COLOR_BGR2YUV_I420)
    chroma_difference = np.abs(frame[300:].astype(int) - via_bgr[300:])
    assert chroma_difference.mean() < 0.5 and chroma_difference.max() <= 6
    # the film's own luma is closer to the true colours than recolour's CIE L with its colour added
    assert cv2.PSNR(cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_I420), bgr) > \
        cv2.PSNR(cv2.cvtColor(via_bgr, cv2.COLOR_YUV2BGR_I420), bgr) + 3
    no_colour = colour.recolour_i420(gray, np.zeros((10, 10, 2), np.float32))
    assert (no_colour[300:] == 128).all()  # gray stays gray
    with pytest.raises(ValueError, match="even"):
        colour.recolour_i420(gray[:299], small_ab)


def test_a_large_photo_holds_a_few_full_size_planes_at_most(pointwise_onnx):
    colorizer = Colorizer(pointwise_onnx, providers="cpu", stride=256)
    gray = np.full((1536, 2048), 120, np.uint8)
    tracemalloc.start()
    try:
        result = colorizer.colorize(gray)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.shape == (1536, 2048, 3)
    # L (4 bytes a pixel), ab (8) and the output (3) are the full-size arrays; strips and windows add little
    assert peak <= 20 * gray.size  # five float planes


@pytest.mark.parametrize("height,width,channels", [(3000, 4000, 1), (2001, 1499, 3), (700, 513, 1)])
def test_two_step_scaling_down_matches_area_averaging(height, width, channels):
    photo = cv2.resize(photo_like(300, 400, channels=channels), (width, height), interpolation=cv2.INTER_CUBIC)
    scale = 128 / min(height, width)
    size = (round(width * scale), round(height * scale))
    direct = cv2.resize(photo, size, interpolation=cv2.INTER_AREA).astype(int)
    difference = np.abs(scale_down(photo, *size).astype(int) - direct)
    assert difference.mean() < 0.5 and difference.max() <= 4  # gray levels
