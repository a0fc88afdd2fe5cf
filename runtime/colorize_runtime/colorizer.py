"""Colorizer: an onnxruntime session built once, and the sliding-window colourisation of any image size."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from colorize_runtime import colour


class ColorizeError(Exception):
    """A problem the user can fix (bad model, missing provider, bad image); the message says what."""


def default_model_path() -> Path:
    return Path(str(resources.files("colorize_runtime.models") / "colorize.onnx"))


def _select_providers(providers: str | None) -> list[str]:
    available = ort.get_available_providers()
    choice = (providers or "auto").lower()
    if choice == "auto":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"] if "CUDAExecutionProvider" in available \
            else ["CPUExecutionProvider"]
    if choice == "cpu":
        return ["CPUExecutionProvider"]
    if choice == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise ColorizeError("CUDA was requested but onnxruntime offers no CUDAExecutionProvider "
                                f"(available: {', '.join(available)}); install colorize-runtime[gpu] "
                                "with a working CUDA, or use --providers cpu")
        return ["CUDAExecutionProvider"]
    raise ColorizeError(f"unknown providers {providers!r}: use auto, cpu or cuda")


def _pyramid_weight(window: int) -> np.ndarray:
    """Weight falling linearly from the window centre to a small floor at its border (never 0, so a pixel
    covered by one window only keeps that window's prediction)."""
    ramp = 1 - np.abs(np.arange(window, dtype=np.float32) - (window - 1) / 2) / (window / 2)
    ramp = np.maximum(ramp, 1e-3)
    return np.outer(ramp, ramp)


BLEND_WEIGHTS = {"mean": lambda window: np.float32(1), "weighted": _pyramid_weight}


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Window offsets covering [0, length) for length >= window: every stride, the last one flush with the end."""
    starts = list(range(0, length - window, stride))
    return starts + [length - window]


class Colorizer:
    """Colourise photos with the colorize ONNX model.

    model: path of an .onnx file (None: the model shipped in this package).
    providers: "auto" (CUDA if onnxruntime offers it, else CPU), "cpu" or "cuda" (an error if CUDA is missing).
    threads: onnxruntime intra-op threads (None: onnxruntime's default).
    stride: window step in pixels, below the 256 window so windows overlap and are averaged (None: half a window).
    size: the short side, in pixels, at which the network sees a larger photo; the predicted colour is scaled
        back up and combined with the full-resolution lightness (None: native resolution, windows over the photo).
    blend: how overlapping windows are combined: "mean" (plain average) or "weighted" (a window that falls off
        towards its borders, which hides seams).
    saturation: scales the predicted ab (1: as predicted, 0: gray).
    """

    def __init__(self, model: str | Path | None = None, providers: str | None = "auto", threads: int | None = None,
                 stride: int | None = None, size: int | None = None, blend: str = "mean",
                 saturation: float = 1.0) -> None:
        self.model_path = Path(model) if model is not None else default_model_path()
        if not self.model_path.is_file():
            raise ColorizeError(f"{self.model_path}: model file not found")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.model_path), options, providers=_select_providers(providers))
        except ColorizeError:
            raise
        except Exception as error:  # onnxruntime raises several types for a file that is not a usable model
            raise ColorizeError(f"{self.model_path}: not a usable ONNX model ({str(error).splitlines()[0]})") from None
        self.contract = self._read_contract()
        self.window = int(self.contract["window"])
        self.stride = stride or self.window // 2
        if not 0 < self.stride <= self.window:
            raise ColorizeError(f"stride must be between 1 and {self.window}, not {self.stride}")
        if size is not None and size < 1:
            raise ColorizeError(f"size must be a positive number of pixels, not {size}")
        self.size = size
        if blend not in BLEND_WEIGHTS:
            raise ColorizeError(f"unknown blend {blend!r}: use {' or '.join(BLEND_WEIGHTS)}")
        self.window_weight = BLEND_WEIGHTS[blend](self.window)
        if saturation < 0:
            raise ColorizeError(f"saturation must be 0 or more, not {saturation}")
        self.saturation = saturation
        self.input_name = self.session.get_inputs()[0].name

    def _read_contract(self) -> dict:
        inputs = self.session.get_inputs()
        shape = inputs[0].shape if len(inputs) == 1 else None
        if shape is None or len(shape) != 4 or shape[1:] != [1, colour.WINDOW, colour.WINDOW]:
            raise ColorizeError(f"{self.model_path}: expected one input of shape [N, 1, {colour.WINDOW}, "
                                f"{colour.WINDOW}], found {[i.shape for i in inputs]}")
        metadata = self.session.get_modelmeta().custom_metadata_map
        if "colour_contract" not in metadata:
            raise ColorizeError(f"{self.model_path}: no colour_contract in the model metadata (not a colorize model?)")
        return json.loads(metadata["colour_contract"])

    @property
    def metadata(self) -> dict:
        """The model's metadata_props, JSON values decoded."""
        raw = self.session.get_modelmeta().custom_metadata_map
        return {key: json.loads(value) for key, value in raw.items()}

    def predict_ab(self, lightness_plane: np.ndarray) -> np.ndarray:
        """Float32 L (H, W) -> float32 ab (H, W, 2): windows over the plane (reflect-padded up to one window),
        predictions averaged where windows overlap."""
        h, w = lightness_plane.shape
        win = self.window
        pad_h, pad_w = max(0, win - h), max(0, win - w)
        normalised = colour.normalise_lightness(lightness_plane, self.contract)
        if pad_h or pad_w:
            normalised = np.pad(normalised, ((0, pad_h), (0, pad_w)), mode="symmetric")
        ph, pw = normalised.shape
        ab_sum = np.zeros((2, ph, pw), np.float32)
        weight_sum = np.zeros((ph, pw), np.float32)
        weight = self.window_weight
        for y in window_starts(ph, win, self.stride):
            for x in window_starts(pw, win, self.stride):
                patch = normalised[None, None, y:y + win, x:x + win]
                ab_sum[:, y:y + win, x:x + win] += self.session.run(None, {self.input_name: patch})[0][0] * weight
                weight_sum[y:y + win, x:x + win] += weight
        ab = (ab_sum / weight_sum)[:, :h, :w]
        return colour.denormalise_ab(ab.transpose(1, 2, 0), self.contract) * np.float32(self.saturation)

    def colorize(self, image: np.ndarray) -> np.ndarray:
        """Gray (H, W) or BGR (H, W, 3) uint8 -> BGR uint8 (H, W, 3); the input's own lightness is kept."""
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
            raise ColorizeError(f"expected a gray (H, W) or BGR (H, W, 3) uint8 array, got {image.dtype} "
                                f"{image.shape}")
        lightness_plane = colour.lightness(image)
        return colour.lab_to_bgr(lightness_plane, self.predict_colour(lightness_plane))

    def predict_colour(self, lightness_plane: np.ndarray) -> np.ndarray:
        """Float32 L (H, W) -> float32 ab (H, W, 2) at full size: at the working resolution `size` when the
        photo is larger, then scaled up (colour is low-frequency; the full-resolution L keeps the detail)."""
        h, w = lightness_plane.shape
        if self.size is None or min(h, w) <= self.size:
            return self.predict_ab(lightness_plane)
        scale = self.size / min(h, w)
        small = cv2.resize(lightness_plane, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA)
        return cv2.resize(self.predict_ab(small), (w, h), interpolation=cv2.INTER_LINEAR)


def colorize(image: np.ndarray, **options) -> np.ndarray:
    """One-off convenience: Colorizer(**options).colorize(image). Build a Colorizer to reuse its session."""
    return Colorizer(**options).colorize(image)
