"""Image decoding that tells damaged files from good ones: the decoders' own messages kept off stderr and read for
signs of corrupt data, and a header's pixel count checked against the file's size before anything is decoded.

libjpeg only warns about corrupt data (a file cut short that still ends with an end marker decodes with gray
rows), and it and libpng print their messages straight to the process's stderr, where colorize-run's one line per
file belongs. OpenCV's decoders are therefore run with file descriptor 2 pointed at a temporary file: the
decoders' lines are read there (a warning of corrupt data makes the file damaged) and dropped, and anything else
written meanwhile (another thread's output) is passed on to stderr. Decodes take turns (a lock), so that each
file's messages are its own.
"""
from __future__ import annotations

import re
import threading

import cv2
import numpy as np

from colorize_runtime import process_guard

# libjpeg's warnings that mean pixels were lost or made up (jerror.h: JWRN_HIT_MARKER, JWRN_HUFF_BAD_CODE,
# JWRN_MUST_RESYNC, JWRN_ARITH_BAD_CODE, JWRN_JPEG_EOF, JWRN_BOGUS_PROGRESSION, JWRN_NOT_SEQUENTIAL). Extraneous
# bytes before a marker are left out: common in files from some cameras, and no pixel is lost.
DAMAGE = re.compile(rb"^(Corrupt JPEG data: (premature end|bad Huffman|found marker|bad arithmetic)|Premature end of "
                    rb"JPEG file|Inconsistent progression sequence|Invalid SOS parameters)")
# Lines the decoders print: libjpeg's warnings, libpng's warnings and errors, OpenCV's own log lines.
DECODER_LINE = re.compile(rb"^(Corrupt JPEG data|Premature end of JPEG file|Inconsistent progression sequence|"
                          rb"Invalid SOS parameters|Warning: unknown JFIF|Unknown Adobe color transform|Application "
                          rb"transferred too many|libpng (warning|error)|\[ *(FATAL|ERROR|WARN|INFO|DEBUG)[:\]])")
_TURNS = threading.Lock()

# The most pixels a byte of compressed data can hold: deflate (PNG) expands at most 1032:1, and a Huffman-coded
# JPEG spends at least one bit on each 8 x 8 block of its first component (the DC coefficient's code).
DEFLATE_RATIO = 1032
JPEG_PIXELS_PER_BYTE = 8 * 64
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples a pixel
_JPEG_ARITHMETIC_FRAMES = {0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_FRAMES = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _split_output(captured: bytes) -> tuple[bytes, bool]:
    """(what is not the decoders', whether a decoder reported corrupt data)."""
    kept, damaged = [], False
    for line in captured.splitlines(keepends=True):
        text = line.rstrip(b"\r\n")
        if DECODER_LINE.match(text):
            damaged = damaged or bool(DAMAGE.match(text))
        else:
            kept.append(line)
    return b"".join(kept), damaged


def imdecode(data: bytes) -> tuple[np.ndarray | None, bool]:
    """cv2.imdecode(data, IMREAD_UNCHANGED) with the decoders' stderr captured: (image or None, whether the
    decoder reported corrupt data)."""
    with _TURNS:
        with process_guard.stderr_captured() as captured:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        others, damaged = _split_output(captured[0])
        process_guard.pass_on_to_stderr(others)
    return image, damaged


def _jpeg_frame_marker(data: bytes) -> int | None:
    """The SOFn marker of a JPEG (which says baseline, progressive, Huffman or arithmetic coding), or None."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _JPEG_FRAMES:
            return marker
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            position += 2
            continue
        position += 2 + int.from_bytes(data[position + 2:position + 4], "big")
    return None


def too_small_for_its_size(image_format: str, data: bytes, width: int, height: int) -> bool:
    """Whether a file is too small to hold the pixels its header claims, where the format allows the check: PNG
    (deflate's largest ratio), Huffman-coded JPEG (a bit a block at least) and uncompressed BMP. A file that lies
    about its size is refused before it is decoded (its decoder would fill gigabytes with made-up gray)."""
    size = len(data)
    if image_format == "PNG" and len(data) >= 26:
        bits = data[24] * _PNG_CHANNELS.get(data[25], 4)
        raw = height * (1 + (width * bits + 7) // 8)
        return raw > DEFLATE_RATIO * size
    if image_format == "JPEG":
        marker = _jpeg_frame_marker(data)
        return marker is not None and marker not in _JPEG_ARITHMETIC_FRAMES and \
            width * height > JPEG_PIXELS_PER_BYTE * size
    if image_format == "BMP" and len(data) >= 34 and int.from_bytes(data[14:18], "little") >= 40:
        bits, compression = int.from_bytes(data[28:30], "little"), int.from_bytes(data[30:34], "little")
        return compression == 0 and size < height * (((width * bits + 31) // 32) * 4)
    return False


def frame_count(header) -> int:
    """The pages of a TIFF, or the frames of an animated PNG or WebP, as Pillow's header counts them (1 if it
    cannot)."""
    try:
        return max(1, int(getattr(header, "n_frames", 1)))
    except Exception:  # noqa: BLE001 - a damaged later page: the first one is what is decoded
        return 1
