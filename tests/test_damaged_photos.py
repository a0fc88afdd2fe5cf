"""Damaged photos are failures, not outputs (issue 28, class 2): a JPEG cut short that still ends with an end
marker, headers that claim more pixels than the file can hold, and the decoders' own lines kept off stderr.
The command-line tests run colorize-run as a process, so that what libjpeg and libpng print on the real stderr
counts: each bad photo gets exactly one line, ours."""
from __future__ import annotations

import os
import struct
import threading
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from colorize_runtime import decoding, files
from tests.conftest import photo_like
from tests.test_cli import run_subprocess


def jpeg(height: int = 120, width: int = 160) -> bytes:
    return cv2.imencode(".jpg", photo_like(height, width), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def cut_with_end_marker(data: bytes, fraction: float = 0.5) -> bytes:
    """The file cut short, an end-of-image marker put back: libjpeg only warns, and fills the rest with gray."""
    return data[:int(len(data) * fraction)] + b"\xff\xd9"


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) announces width x height."""
    data = bytearray(jpeg(16, 16))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) \
        + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b"")


def bmp_claiming(width: int, height: int) -> bytes:
    data = bytearray(cv2.imencode(".bmp", photo_like(8, 8))[1].tobytes())
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


DAMAGED = {  # name -> (content, the reason colorize-run gives)
    "cut-with-end-marker.jpg": (cut_with_end_marker(jpeg()), "truncated or damaged JPEG file"),
    "cut-at-90-percent-with-end-marker.jpg": (cut_with_end_marker(jpeg(), 0.9), "truncated or damaged JPEG file"),
    "cut.png": (cv2.imencode(".png", photo_like(64, 64))[1].tobytes()[:3000], "truncated or damaged PNG file"),
    "huge-header.jpg": (jpeg_claiming(19_000, 19_000),
                        r"truncated or damaged JPEG file \([\d,]+ bytes cannot hold 19000x19000 pixels\)"),
    "huge-header.png": (png_claiming(19_000, 19_000),
                        r"truncated or damaged PNG file \([\d,]+ bytes cannot hold 19000x19000 pixels\)"),
    "huge-header.bmp": (bmp_claiming(19_000, 19_000),
                        r"truncated or damaged BMP file \([\d,]+ bytes cannot hold 19000x19000 pixels\)"),
}


@pytest.mark.parametrize("name", DAMAGED)
def test_a_damaged_photo_is_refused_with_its_reason(name):
    content, reason = DAMAGED[name]
    with pytest.raises(files.ImageFileError, match=f"^{reason}$"):
        files.decode_image(content)


@pytest.mark.parametrize("name", [n for n in DAMAGED if n.startswith("huge")])
def test_a_header_that_claims_too_many_pixels_is_refused_before_decoding(name, monkeypatch):
    monkeypatch.setattr(decoding.cv2, "imdecode", lambda *args: pytest.fail("decoded"))
    with pytest.raises(files.ImageFileError, match="cannot hold"):
        files.decode_image(DAMAGED[name][0])


def test_good_photos_of_every_kind_still_decode():
    """The size checks stay clear of real files: flat photos (the most compressible), progressive JPEG, 1-bit
    PNG, and a JPEG with extraneous bytes before its end marker (a harmless libjpeg warning)."""
    flat = np.full((600, 800, 3), 255, np.uint8)
    for extension, params in ((".jpg", [cv2.IMWRITE_JPEG_QUALITY, 50]), (".png", [cv2.IMWRITE_PNG_COMPRESSION, 9]),
                              (".bmp", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])):
        data = cv2.imencode(extension, flat, params)[1].tobytes()
        assert files.decode_image(data).shape == (600, 800, 3), extension
    from PIL import Image
    from io import BytesIO
    one_bit = BytesIO()
    Image.new("1", (2000, 2000), 1).save(one_bit, "PNG", optimize=True)
    assert files.decode_image(one_bit.getvalue()).shape[:2] == (2000, 2000)
    good = jpeg()
    with_junk = good[:-2] + b"\x00\x00\x00" + good[-2:]
    assert files.decode_image(with_junk).shape == (120, 160, 3)


def test_the_decoders_lines_are_kept_off_stderr_and_other_output_passes(capfd):
    def chatter():
        for _ in range(50):
            os.write(2, b"another thread\n")
    thread = threading.Thread(target=chatter)
    thread.start()
    for _ in range(5):
        with pytest.raises(files.ImageFileError):
            files.decode_image(DAMAGED["cut.png"][0])
        with pytest.raises(files.ImageFileError):
            files.decode_image(DAMAGED["cut-with-end-marker.jpg"][0])
    thread.join()
    err = capfd.readouterr().err
    assert err.splitlines() == ["another thread"] * 50


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_damaged_photos_get_one_line_each_exit_1_and_the_good_ones_are_written(tmp_path, pointwise_onnx):
    bad = {}
    for name, (content, reason) in DAMAGED.items():
        (tmp_path / name).write_bytes(content)
        bad[tmp_path / name] = reason
    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg())
    before = tree(tmp_path)
    result = run_subprocess(*bad, good, "--model", pointwise_onnx, text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[-1] == f"colorize-run: {len(bad)} of {len(bad) + 1} files failed (1 colourised, 0 skipped)"
    assert len(lines) == len(bad) + 1, result.stderr
    for line, (path, reason) in zip(lines, bad.items()):
        assert line.startswith(f"colorize-run: {path}: ")
        assert __import__("re").fullmatch(reason, line[len(f"colorize-run: {path}: "):]), line
    after = tree(tmp_path)
    assert after.pop("good_color.jpg")
    assert after == before  # inputs untouched, no other output, no temporary file


def test_a_damaged_photo_on_stdin_is_one_line_and_exit_1(pointwise_onnx):
    result = run_subprocess("-", "--model", pointwise_onnx, input=DAMAGED["cut-with-end-marker.jpg"][0],
                            timeout=120)
    assert result.returncode == 1 and result.stdout == b""
    assert result.stderr.decode() == "colorize-run: stdin: truncated or damaged JPEG file\n"
