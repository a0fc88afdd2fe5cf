"""The colour contract shared by training, export and the runtime.

One place decides how a photo becomes network input and how the network output becomes a photo:

* BGR uint8 -> float32 in [0, 1] -> ``cv2.cvtColor(COLOR_BGR2Lab)``: OpenCV's float conversion, sRGB
  primaries, D65 white, sRGB gamma; L in [0, 100], a/b roughly in [-110, 110].
* network input  ``L_norm = (L - L_CENTER) / L_SCALE``            (so L_norm is in [-1, 1])
* network output ``ab = ab_norm * AB_SCALE``                     (ab_norm is about [-1, 1])

A gray photo is L only: gray level g is treated as the BGR pixel (g, g, g).
The export writes :func:`contract_metadata` into the ONNX file; the runtime reads it back from there.
This module must stay free of torch: train/ and export/ import it from here.
"""
from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

COLOUR_SPACE = "CIELAB (OpenCV float32 cvtColor: sRGB, D65, L 0..100)"
L_CENTER = 50.0
L_SCALE = 50.0
AB_SCALE = 110.0
WINDOW = 256
STRIP_PIXELS = 1 << 18  # conversions of large photos run in row strips of about this many pixels
RECOLOUR_THREADS = 4  # at most; recolour uses as many as OpenCV's thread count (the CPU count) allows


def contract_metadata() -> dict:
    """The contract as it is stored in the ONNX metadata (key ``colour_contract``)."""
    return {
        "colour_space": COLOUR_SPACE,
        "input": "L_norm = (L - L_center) / L_scale",
        "output": "ab = ab_norm * ab_scale",
        "L_center": L_CENTER,
        "L_scale": L_SCALE,
        "ab_scale": AB_SCALE,
        "window": WINDOW,
        "gray_input": "gray level g is the BGR pixel (g, g, g)",
    }


def _opencv_bgr_to_lab(bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 -> float32 Lab: the contract's conversion (bgr_to_lab, once OpenCV's tables are ready)."""
    return cv2.cvtColor(bgr.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_BGR2Lab)


def _gray_levels_lightness() -> np.ndarray:
    """L of the 256 gray levels (g, g, g), as a (1, 256) cv2.LUT table."""
    levels = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    return _opencv_bgr_to_lab(levels)[0, :, 0].reshape(1, 256)


class _LabTables:
    """OpenCV builds its Lab conversion tables on the first Lab conversion in a process, about 90 ms on a small
    CPU: a fifth of a one-photo run. A thread started at import builds them (and the gray-level table) while
    the process goes on importing onnxruntime and reading the photo; cvtColor releases the GIL. Every Lab
    conversion here waits for it first (a no-op once done), so two threads never build the tables at once. In a
    forked child the thread counts as finished; if it had not got there, the table is built on first use."""

    def __init__(self) -> None:
        self._gray_to_lightness: np.ndarray | None = None
        # not a daemon: a process that exits at once waits for it, since OpenCV aborts if it is torn down mid-build
        self._thread = threading.Thread(target=self._build, name="colorize-lab-tables")
        self._thread.start()

    def _build(self) -> None:
        self._gray_to_lightness = _gray_levels_lightness()

    def ready(self) -> None:
        self._thread.join()

    def gray_to_lightness(self) -> np.ndarray:
        self.ready()
        if self._gray_to_lightness is None:
            self._build()
        return self._gray_to_lightness


_LAB_TABLES = _LabTables()


def bgr_to_lab(bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 (H, W, 3) -> float32 Lab (H, W, 3)."""
    _LAB_TABLES.ready()
    return _opencv_bgr_to_lab(bgr)


def gray_to_lightness(gray: np.ndarray) -> np.ndarray:
    """Gray uint8 (H, W) -> float32 L (H, W), exactly as bgr_to_lab of (g, g, g), via a 256-entry table."""
    return cv2.LUT(np.ascontiguousarray(gray), _LAB_TABLES.gray_to_lightness())


def _row_strips(stop: int, width: int, start: int = 0):
    """Row slices of about STRIP_PIXELS each, over rows start..stop: per-strip float temporaries stay small and in
    cache, so a large photo costs one output array, not several full-size float copies."""
    rows = max(1, STRIP_PIXELS // max(1, width))
    return (slice(top, min(top + rows, stop)) for top in range(start, stop, rows))


def lightness(image: np.ndarray) -> np.ndarray:
    """L (float32, H x W) of a gray (H, W) or BGR (H, W, 3) uint8 image; the same values as bgr_to_lab."""
    if image.ndim == 2:
        return gray_to_lightness(image)
    height, width = image.shape[:2]
    plane = np.empty((height, width), np.float32)
    for rows in _row_strips(height, width):
        plane[rows] = bgr_to_lab(image[rows])[..., 0]
    return plane


def recolour(image: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """The image's own lightness with colour ab -> BGR (H, W, 3) in the image's dtype (uint8, or uint16 for photos
    that came in with 16 bits), rounded to nearest and saturated.

    image: gray (H, W) or BGR (H, W, 3), uint8 or uint16. ab: float32 (h, w, 2) in CIELAB units, at the image's
    size or smaller (the working resolution): it is scaled up bilinearly, as cv2.resize INTER_LINEAR would
    (pixel centres aligned, edges replicated).

    Row strips of about STRIP_PIXELS pixels: each strip's ab is interpolated straight from the small ab into the
    strip's own Lab buffer, its L is computed from the image's rows, and the strip is converted into the output.
    The only full-size array is the output, so a large photo costs little memory and few page faults. The rows
    are shared out in blocks between RECOLOUR_THREADS threads (OpenCV releases the GIL): ~30 % faster on 2 cores
    than OpenCV's own threading within each call, as the calls on one strip are short."""
    height, width = image.shape[:2]
    depth16 = image.dtype == np.uint16
    strip_lightness = lightness_16bit if depth16 else lightness
    bgr = np.empty((height, width, 3), image.dtype)
    full_size = ab.shape[:2] == (height, width)
    if not full_size:  # channel 0 is a placeholder for L, so that the interpolation fills a whole Lab strip
        small = cv2.merge([np.zeros(ab.shape[:2], np.float32), np.ascontiguousarray(ab, np.float32)])
        scale_x, scale_y = ab.shape[1] / width, ab.shape[0] / height
    rows_per_strip = max(1, STRIP_PIXELS // max(1, width))
    _LAB_TABLES.ready()

    def convert(block: slice) -> None:
        buffer = np.empty((min(rows_per_strip, block.stop - block.start), width, 3), np.float32)
        for rows in _row_strips(block.stop, width, block.start):
            lab = buffer[:rows.stop - rows.start]
            if full_size:
                lab[..., 1:] = ab[rows]
            else:  # output pixel (x, y) samples the small ab at ((x + 0.5) * scale - 0.5, (y + 0.5) * scale - 0.5)
                to_small = np.array([[scale_x, 0, 0.5 * scale_x - 0.5],
                                     [0, scale_y, (rows.start + 0.5) * scale_y - 0.5]])
                cv2.warpAffine(small, to_small, (width, lab.shape[0]), dst=lab,
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
            cv2.insertChannel(strip_lightness(image[rows]), lab, 0)
            cv2.cvtColor(lab, cv2.COLOR_Lab2BGR, dst=lab)  # float BGR in [0, 1]: OpenCV clips out-of-gamut colours
            if depth16:
                cv2.multiply(lab, (65535.0,) * 4, dst=bgr[rows], dtype=cv2.CV_16U)
            else:
                cv2.convertScaleAbs(lab, dst=bgr[rows], alpha=255.0)  # |x| is x here; saturating, round to nearest

    strips = -(-height // rows_per_strip)
    threads = max(1, min(RECOLOUR_THREADS, cv2.getNumThreads(), strips))
    per_thread = -(-strips // threads) * rows_per_strip  # whole strips per block
    blocks = [slice(top, min(top + per_thread, height)) for top in range(0, height, per_thread)]
    if len(blocks) == 1:
        convert(blocks[0])
    else:
        with ThreadPoolExecutor(len(blocks), thread_name_prefix="colorize-recolour") as pool:
            list(pool.map(convert, blocks))  # list(): an error in a block is raised here
    return bgr


_FULL_TO_TV_LUMA = np.round(16 + np.arange(256) * (219 / 255)).astype(np.uint8)[None]


def recolour_i420(gray: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """A gray uint8 frame (H, W; H and W even) with colour ab -> the frame as 8-bit I420 (BT.601, TV range), the
    layout of cv2's COLOR_BGR2YUV_I420 and of a yuv420p video frame: (H * 3 / 2, W) uint8, Y then U then V.

    What an H.264 encoder is given anyway, made without the full-size colour photo: the Y plane is the frame's
    own luma (range-mapped only, so the film's brightness, grain and detail pass through untouched), and the
    half-size chroma planes come from recolouring the frame scaled to half size by the contract (Lab -> BGR) and
    converting that to Cb, Cr. recolour's BGR followed by that conversion gives the same frame up to rounding
    and the luma of saturated colours (recolour keeps CIE L, this keeps the luma Y); a quarter of the Lab
    conversions, so a 1080p frame takes a few ms instead of tens."""
    height, width = gray.shape
    if height % 2 or width % 2:
        raise ValueError(f"I420 needs an even frame size, not {width}x{height}")
    half = (width // 2, height // 2)
    frame = np.empty((height * 3 // 2, width), np.uint8)
    cv2.LUT(np.ascontiguousarray(gray), _FULL_TO_TV_LUMA, dst=frame[:height])
    # channel 0 a placeholder for L, so that the scaling fills a whole Lab image
    lab = cv2.resize(cv2.merge([np.zeros(ab.shape[:2], np.float32), np.ascontiguousarray(ab, np.float32)]), half,
                     interpolation=cv2.INTER_LINEAR)
    cv2.insertChannel(gray_to_lightness(cv2.resize(gray, half, interpolation=cv2.INTER_AREA)), lab, 0)
    # float Y, Cr, Cb of BT.601 with the chroma centred on 0.5: x 224 + 16 is the TV range's 128 + 224 x (C - 0.5)
    ycrcb = cv2.convertScaleAbs(cv2.cvtColor(cv2.cvtColor(lab, cv2.COLOR_Lab2BGR), cv2.COLOR_BGR2YCrCb),
                                alpha=224.0, beta=16.0)  # rounded to nearest, saturated; the values are positive
    planes = frame.reshape(-1)[height * width:].reshape(2, half[1], half[0])
    planes[0], planes[1] = ycrcb[..., 2], ycrcb[..., 1]  # U = Cb, V = Cr
    return frame


def normalise_lightness(lightness_plane: np.ndarray, contract: dict | None = None) -> np.ndarray:
    c = contract or contract_metadata()
    return (lightness_plane - np.float32(c["L_center"])) * np.float32(1 / c["L_scale"])


def denormalise_ab(ab_norm: np.ndarray, contract: dict | None = None) -> np.ndarray:
    c = contract or contract_metadata()
    return ab_norm * np.float32(c["ab_scale"])


def lightness_16bit(image: np.ndarray) -> np.ndarray:
    """L (float32, H x W) of a gray (H, W) or BGR (H, W, 3) uint16 image (65535 is white, as 255 is in uint8).

    Computed with the CIE formulas (sRGB transfer curve, OpenCV's D65 Y weights) rather than cv2.cvtColor, whose
    float conversion has only about 500 distinct L levels: a 16-bit photo keeps its fine tonal steps. It agrees
    with bgr_to_lab within 0.25 L."""
    srgb_to_linear, gray_to_lightness_16bit = _tables_16bit()
    if image.ndim == 2:
        return gray_to_lightness_16bit[image]
    height, width = image.shape[:2]
    plane = np.empty((height, width), np.float32)
    for rows in _row_strips(height, width):
        plane[rows] = _cie_lightness(srgb_to_linear[image[rows]] @ _Y_WEIGHTS_BGR)
    return plane


def _cie_lightness(luminance: np.ndarray) -> np.ndarray:
    """CIE L* of relative luminance Y (white 1)."""
    return np.where(luminance > 0.008856, 116 * np.cbrt(luminance) - 16, 903.3 * luminance).astype(np.float32)


_Y_WEIGHTS_BGR = np.array([0.072169, 0.715160, 0.212671], np.float32)


@functools.cache
def _tables_16bit() -> tuple[np.ndarray, np.ndarray]:
    """The sRGB -> linear value and the CIE L of each of the 65536 levels (built on first use, not at import)."""
    levels = np.arange(65536, dtype=np.float64) / 65535
    srgb_to_linear = np.where(levels <= 0.04045, levels / 12.92, ((levels + 0.055) / 1.055) ** 2.4).astype(np.float32)
    return srgb_to_linear, _cie_lightness(srgb_to_linear)
