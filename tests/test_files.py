"""Image files: formats, bit depth, alpha, EXIF orientation, CMYK, bad files, size limits, safe writes, and
Colorizer.colorize_file."""
from __future__ import annotations

import errno
import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from colorize_runtime import Colorizer, colour, files
from tests.conftest import photo_like

EXTENSIONS = [".jpg", ".png", ".tif", ".webp", ".bmp"]
LOSSLESS = [".png", ".tif", ".bmp"]


@pytest.fixture(scope="module")
def colorizer(pointwise_onnx):
    return Colorizer(pointwise_onnx, providers="cpu")


def as_dtype(image: np.ndarray, dtype) -> np.ndarray:
    return image.astype(np.uint16) * 257 if dtype == np.uint16 else image


def with_alpha(bgr: np.ndarray) -> np.ndarray:
    alpha = np.linspace(0, np.iinfo(bgr.dtype).max, bgr.shape[1]).astype(bgr.dtype)
    return np.dstack([bgr, np.broadcast_to(alpha, bgr.shape[:2])])


@pytest.mark.parametrize("extension", EXTENSIONS)
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_every_format_depth_and_channel_count_round_trips(colorizer, tmp_path, extension, channels, dtype):
    image = as_dtype(photo_like(40, 56, min(channels, 3)), dtype)
    if channels == 4:
        image = with_alpha(image)
    source = tmp_path / f"in{extension}"
    source.write_bytes(files.encode_image(image, extension))
    stored = files.read_image(source)  # what the format kept of the input
    target = colorizer.colorize_file(source, tmp_path / f"out{extension}")
    result = files.read_image(target)

    keeps_alpha = channels == 4 and extension != ".jpg"
    assert result.shape == (40, 56, 4 if keeps_alpha else 3)
    assert result.dtype == stored.dtype  # 16-bit stays 16-bit where the format stores 16 bits
    assert result.dtype == (dtype if extension in files.DEPTH_16_EXTENSIONS else np.uint8)
    if keeps_alpha:
        np.testing.assert_array_equal(result[..., 3], stored[..., 3])  # alpha passed through untouched


def test_sixteen_bit_input_keeps_its_fine_tonal_steps(pointwise_onnx):
    colorizer = Colorizer(pointwise_onnx, providers="cpu", saturation=0.2)  # in gamut: no clipping moves L
    ramp = np.linspace(10000, 12000, 400).astype(np.uint16)  # 2000 levels, fewer than 8 steps in uint8
    result = colorizer.colorize(np.tile(ramp, (8, 1)))
    assert result.dtype == np.uint16 and len(np.unique(result[..., 1])) > 100
    np.testing.assert_allclose(colour.lightness_16bit(result), colour.lightness_16bit(np.tile(ramp, (8, 1))),
                               atol=0.5)


def jpeg_with_orientation(bgr: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(bgr[..., ::-1]).save(buffer, "JPEG", quality=98, exif=exif.tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_so_the_photo_is_upright(orientation):
    data = jpeg_with_orientation(photo_like(30, 50), orientation)
    upright = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # OpenCV's own EXIF handling
    result = files.decode_image(data)
    assert result.shape == upright.shape == ((30, 50, 3) if orientation < 5 else (50, 30, 3))
    np.testing.assert_array_equal(result, upright)


@pytest.mark.parametrize("extension", [".png", ".webp"])
def test_exif_orientation_also_turns_the_alpha_channel(tmp_path, extension):
    rgba = with_alpha(photo_like(30, 50))[..., [2, 1, 0, 3]]
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned left: display rotated 90 degrees clockwise
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, extension[1:].upper(), exif=exif.tobytes(), lossless=True)
    result = files.decode_image(buffer.getvalue())
    assert result.shape == (50, 30, 4)
    np.testing.assert_array_equal(result[..., 3], np.rot90(rgba[..., 3], -1))


def test_tiff_orientation_is_applied_once(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "turned.tif"
    Image.fromarray(photo_like(30, 50)[..., ::-1]).save(path, exif=exif.tobytes())
    np.testing.assert_array_equal(files.read_image(path), np.rot90(photo_like(30, 50), -1))


def test_cmyk_jpeg_is_read_in_its_colours(colorizer, tmp_path):
    bgr = photo_like(48, 64)
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(bgr[..., ::-1]).convert("CMYK").save(path, quality=98)
    assert Image.open(path).mode == "CMYK"
    image = files.read_image(path)
    assert image.shape == (48, 64, 3)
    assert np.abs(image.astype(int) - bgr).mean() < 6
    assert colorizer.colorize_file(path, tmp_path / "out.jpg").exists()


def png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG file whose header announces width x height (a "decompression bomb" shape)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) \
        + chunk(b"IEND", b"")


def encoded(extension: str) -> bytes:
    return files.encode_image(photo_like(64, 64), extension)


BAD_FILES = {  # name -> (content, reason)
    "empty.jpg": (b"", "empty file"),
    **{f"truncated{extension}": (encoded(extension)[:len(encoded(extension)) // 2], "truncated or damaged")
       for extension in EXTENSIONS},
    "header-only.jpg": (encoded(".jpg")[:40], "truncated or damaged JPEG"),
    "text.png": (b"this is a text file, not a picture\n" * 4, "not an image"),
    "noise.jpg": (np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(), "not an image"),
    "bomb.png": (png_header_claiming(50_000, 50_000), "50000x50000 = 2,500,000,000 pixels, over the max-pixels limit"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_files_get_a_clear_reason(tmp_path, name):
    content, reason = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(files.ImageFileError, match=reason):
        files.read_image(path)


def test_missing_paths_and_folders_get_a_clear_reason(tmp_path):
    with pytest.raises(files.ImageFileError, match="no such file"):
        files.read_image(tmp_path / "missing.jpg")
    with pytest.raises(files.ImageFileError, match="is a folder"):
        files.read_image(tmp_path)


def test_unreadable_file_gets_a_clear_reason(tmp_path, monkeypatch):
    path = tmp_path / "secret.jpg"
    path.write_bytes(encoded(".jpg"))
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: make the read fail as it would for a user
        def denied(name, *args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied", str(name))
        monkeypatch.setattr(os, "open", denied)
    with pytest.raises(files.ImageFileError, match="permission denied"):
        files.read_image(path)


def test_max_pixels_is_checked_before_the_image_is_decoded(tmp_path, monkeypatch):
    path = tmp_path / "large.png"
    path.write_bytes(encoded(".png"))  # 64 x 64 = 4096 pixels
    assert files.read_image(path, max_pixels=4096).shape == (64, 64, 3)

    def must_not_decode(*args, **kwargs):
        raise AssertionError("decoded an image over the limit")
    monkeypatch.setattr(files.cv2, "imdecode", must_not_decode)
    with pytest.raises(files.ImageFileError, match="64x64 = 4,096 pixels, over the max-pixels limit of 4,095"):
        files.read_image(path, max_pixels=4095)


def test_unsupported_sample_types_are_refused(tmp_path):
    path = tmp_path / "float.tif"
    cv2.imwrite(str(path), np.zeros((8, 8), np.float32))
    with pytest.raises(files.ImageFileError, match="float32 samples are not supported"):
        files.read_image(path)


def fail_in_fsync(monkeypatch, error: BaseException) -> None:
    def failing(descriptor):
        raise error
    monkeypatch.setattr(files.os, "fsync", failing)


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk full", "ctrl-c"])
def test_an_interrupted_write_leaves_the_old_file_and_no_partial_file(colorizer, tmp_path, monkeypatch, error):
    source, target = tmp_path / "photo.png", tmp_path / "photo_color.png"
    source.write_bytes(encoded(".png"))
    target.write_bytes(b"previous output")
    fail_in_fsync(monkeypatch, error)
    with pytest.raises(files.ImageFileError if isinstance(error, OSError) else KeyboardInterrupt):
        colorizer.colorize_file(source, target, force=True)
    assert target.read_bytes() == b"previous output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png", "photo_color.png"]


def test_new_files_get_the_usual_permissions(colorizer, tmp_path):
    source = tmp_path / "photo.png"
    source.write_bytes(encoded(".png"))
    old_umask = os.umask(0o022)
    try:
        target = colorizer.colorize_file(source, tmp_path / "out.png")
    finally:
        os.umask(old_umask)
    assert target.stat().st_mode & 0o777 == 0o644


def test_colorize_file_never_writes_over_its_input(colorizer, tmp_path):
    source = tmp_path / "photo.jpg"
    source.write_bytes(encoded(".jpg"))
    original = source.read_bytes()
    os.link(source, tmp_path / "same-file.jpg")
    for target in (source, tmp_path / "." / "photo.jpg", tmp_path / "same-file.jpg"):
        with pytest.raises(files.ImageFileError, match="is the input itself"):
            colorizer.colorize_file(source, target, force=True)
    assert source.read_bytes() == original


def test_colorize_file_skips_an_existing_output_unless_forced(colorizer, tmp_path):
    source, target = tmp_path / "photo.jpg", tmp_path / "out.png"
    source.write_bytes(encoded(".jpg"))
    target.write_bytes(b"keep me")
    with pytest.raises(files.OutputExistsError, match="exists"):
        colorizer.colorize_file(source, target)
    assert target.read_bytes() == b"keep me"
    colorizer.colorize_file(source, target, force=True)
    assert files.read_image(target).shape == (64, 64, 3)


def test_colorize_file_refuses_large_files_and_unknown_output_formats(colorizer, tmp_path):
    source = tmp_path / "photo.jpg"
    source.write_bytes(encoded(".jpg"))
    with pytest.raises(files.ImageFileError, match="over the max-pixels limit"):
        colorizer.colorize_file(source, tmp_path / "out.png", max_pixels=100)
    with pytest.raises(files.ImageFileError, match="cannot write .xyz files"):
        colorizer.colorize_file(source, tmp_path / "out.xyz")
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "out.xyz").exists()
