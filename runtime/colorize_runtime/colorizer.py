"""Colorizer: an onnxruntime session built once, and the sliding-window colourisation of any image size."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from colorize_runtime import colour, inputs, model_check, options
from colorize_runtime.errors import ColorizeError

try:
    import onnxruntime as ort
except ImportError:  # installed without its extra: [cpu] brings onnxruntime, [gpu] onnxruntime-gpu (the same module)
    raise ColorizeError("onnxruntime is not installed: in a clone of colorize, pip install '.[cpu]' (or '.[gpu]' "
                        "for CUDA; one of the two)") from None


# The models shipped in the package, by name (models/MODEL_CARD.md). natural, the default: the classification
# network decoded so that colours it is unsure of are muted (few strong wrong colours); vivid: the same network
# decoded for the most colour (the look of earlier releases, some confident wrong colours); regression: the mean
# colour (cautious, sepia-like, the best PSNR); guided: natural steered by hints and a reference photo (guided.py).
SHIPPED_MODELS = {"natural": "colorize_natural.onnx", "vivid": "colorize.onnx",
                  "regression": "colorize_regression.onnx", "guided": "colorize_guided.onnx"}
MODEL_ALIASES = {"classification": "vivid"}  # earlier releases' names, still accepted
GUIDED_INPUTS = ["L", "hints", "global_hint"]
DEFAULT_MODEL = "natural"


def shipped_model_path(name: str = DEFAULT_MODEL) -> Path:
    """The file of a shipped model by name (SHIPPED_MODELS or MODEL_ALIASES)."""
    return Path(str(resources.files("colorize_runtime.models") / SHIPPED_MODELS[MODEL_ALIASES.get(name, name)]))


def default_model_path() -> Path:
    return shipped_model_path(DEFAULT_MODEL)


def resolve_model(model: str | Path | None) -> Path:
    """A shipped model's name (SHIPPED_MODELS), a path, or None (the default shipped model) -> its file."""
    if model is None:
        return default_model_path()
    if isinstance(model, str) and (model in SHIPPED_MODELS or model in MODEL_ALIASES):
        return shipped_model_path(model)
    return Path(model)


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


def _pyramid_ramp(window: int) -> np.ndarray:
    """Weight falling linearly from the window centre to a small floor at its border (never 0, so a pixel
    covered by one window only keeps that window's prediction)."""
    ramp = 1 - np.abs(np.arange(window, dtype=np.float32) - (window - 1) / 2) / (window / 2)
    return np.maximum(ramp, np.float32(1e-3))


# A window's weight is separable, outer(ramp, ramp), so the total weight at a pixel is the product of a row sum
# and a column sum: blending needs no full-size weight plane.
BLEND_RAMPS = {"mean": lambda window: np.ones(window, np.float32), "weighted": _pyramid_ramp}
PRECISIONS = ("fp32", "int8")
# Windows per session.run: a GPU gains from batches; on a CPU one window already fills the cores.
WINDOWS_PER_RUN = {"CUDAExecutionProvider": 16, "CPUExecutionProvider": 1}


def int8_model_path(model_path: Path) -> Path:
    """The int8 (static QDQ) model that `python -m export` writes beside an fp32 model: NAME.int8.onnx."""
    return model_path.with_name(f"{model_path.stem}.int8{model_path.suffix}")


def _session_options(threads: int | None) -> ort.SessionOptions:
    """All graph optimisations (on x86 that includes the NCHWc layout for the convolutions), sequential
    execution (the graph is a chain), and the memory arena with its allocation plan reused across runs:
    every window has the same shape. The intra-op threads do not spin-wait after a run: spinning costs nothing
    per window here (measured), but it took the cores from the OpenCV colour conversion that follows the
    network (L + ab -> BGR of a 12 MP photo: ~140 ms with spinning, ~85 ms without)."""
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_cpu_mem_arena = True
    options.enable_mem_pattern = True
    if threads:
        options.intra_op_num_threads = threads
    return options


def _total_weight(length: int, starts: list[int], ramp: np.ndarray) -> np.ndarray:
    """Sum of the 1-D window ramps placed at starts: the blend weight total along one axis."""
    total = np.zeros(length, np.float32)
    for start in starts:
        total[start:start + len(ramp)] += ramp
    return total


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Window offsets covering [0, length) for length >= window: every stride, the last one flush with the end."""
    starts = list(range(0, length - window, stride))
    return starts + [length - window]


DEFAULT_SIZE = 160


def scale_down(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area averaging (cv2.INTER_AREA) to width x height. A large reduction goes in two steps: exact k x k block
    means first (OpenCV's integer-factor path, ~10x faster than a fractional area reduction of a whole 12 MP
    photo), then area averaging of the blocks to the final size; the last h mod k rows and w mod k columns (fewer
    than k, a fraction of a percent of the photo) are left out of the first step."""
    h, w = image.shape[:2]
    k = min(h // height, w // width) // 4  # the blocks stay at least 4 times finer than the result
    if k >= 2:
        image = cv2.resize(image[:h - h % k, :w - w % k], (w // k, h // k), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


class Colorizer:
    """Colourise photos with the colorize ONNX model.

    model: a shipped model's name (SHIPPED_MODELS: "natural", the default, "vivid", "regression" or "guided";
        "classification" is vivid's earlier name), or the path of an .onnx file (None: the default shipped model).
    providers: "auto" (CUDA if onnxruntime offers it, else CPU), "cpu" or "cuda" (an error if CUDA is missing).
    threads: onnxruntime intra-op threads (None: onnxruntime's default, one per physical core).
    stride: window step in pixels, below the 256 window so windows overlap and are averaged (None: half a window).
    size: the short side, in pixels, at which the network sees a larger photo; the predicted colour is scaled
        back up and combined with the full-resolution lightness (None: native resolution, windows over the photo).
        The default, DEFAULT_SIZE, scored best on val-original (models/MODEL_CARD.md): the network was trained
        on whole scenes at about this scale.
    blend: how overlapping windows are combined: "mean" (plain average) or "weighted" (a window that falls off
        towards its borders, which hides seams).
    saturation: scales the predicted ab (1: as predicted, 0: gray).
    precision: "fp32" (the model file itself) or "int8" (NAME.int8.onnx beside it, a static-quantised copy
        written by `python -m export`: about twice as fast on a CPU).
    batch: windows per onnxruntime call (None: 16 on CUDA, 1 on a CPU); the result does not depend on it.
    mirror: also colour the photo mirrored left to right and average the two predictions (the mirror's flipped
        back): on val-original +0.03 dB PSNR and +0.05 AuC points (models/MODEL_CARD.md), because the two views'
        guesses differ where the network is unsure and their mean errs less; it costs a second network pass.
        None (the default): on at a working resolution (size set), where that pass is one or two windows of a
        small image, and off at native resolution (size None), where it would double the run time.
    """

    def __init__(self, model: str | Path | None = None, providers: str | None = "auto", threads: int | None = None,
                 stride: int | None = None, size: int | None = DEFAULT_SIZE, blend: str = "mean",
                 saturation: float = 1.0, precision: str = "fp32", batch: int | None = None,
                 mirror: bool | None = None) -> None:
        options.check(model, threads, stride, size, saturation, batch)
        self.model_path = resolve_model(model)
        if precision not in PRECISIONS:
            raise ColorizeError(f"unknown precision {precision!r}: use {' or '.join(PRECISIONS)}")
        if precision == "int8":
            fp32_path, self.model_path = self.model_path, int8_model_path(self.model_path)
            if not self.model_path.is_file() and fp32_path.is_file():
                raise ColorizeError(f"{self.model_path}: int8 model file not found (precision int8 needs it beside "
                                    f"{fp32_path.name}; `python -m export CHECKPOINT` writes both), or use "
                                    "precision fp32")
        if not self.model_path.is_file():
            shipped = f" (the shipped models: {', '.join(SHIPPED_MODELS)}; or an ONNX file's path)" \
                if isinstance(model, str) and Path(model).name == model and not model.endswith(".onnx") else ""
            raise ColorizeError(f"{self.model_path}: model file not found{shipped}")
        self.precision = precision
        model_check.check_external_data(self.model_path)
        try:
            self.session = ort.InferenceSession(str(self.model_path), _session_options(threads),
                                                providers=_select_providers(providers))
        except ColorizeError:
            raise
        except Exception as error:  # onnxruntime raises several types for a file that is not a usable model
            raise ColorizeError(f"{self.model_path}: not a usable ONNX model ({str(error).splitlines()[0]})") from None
        self.contract = self._read_contract()
        # the guided model's extra inputs (guided.py): fed zeros when a photo has no hints
        self.guided = [i.name for i in self.session.get_inputs()] == GUIDED_INPUTS
        self.ab_cells = model_check.read_ab_cells(self.session, self.model_path) if self.guided else None
        model_check.try_one_window(self.session, self.model_path, self.contract, self.ab_cells)
        self.window = int(self.contract["window"])
        self.stride = self.window // 2 if stride is None else stride
        if not 0 < self.stride <= self.window:
            raise ColorizeError(f"stride must be between 1 and {self.window}, not {self.stride}")
        if size is not None and size < 1:
            raise ColorizeError(f"size must be a positive number of pixels, not {size}")
        self.size = size
        if blend not in BLEND_RAMPS:
            raise ColorizeError(f"unknown blend {blend!r}: use {' or '.join(BLEND_RAMPS)}")
        self.blend = blend
        self.window_ramp = BLEND_RAMPS[blend](self.window)
        if saturation < 0:
            raise ColorizeError(f"saturation must be 0 or more, not {saturation}")
        self.saturation = saturation
        if batch is not None and batch < 1:
            raise ColorizeError(f"batch must be 1 or more windows, not {batch}")
        self.batch = batch or WINDOWS_PER_RUN.get(self.session.get_providers()[0], 1)
        self.mirror = size is not None if mirror is None else bool(mirror)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [self.session.get_outputs()[0].name]  # the colour (the guided file has two outputs)

    def _read_contract(self) -> dict:
        """The model's inputs, outputs and colour contract checked (model_check); the contract."""
        model_check.check_inputs_and_outputs(self.session, self.model_path)
        return model_check.read_contract(self.session, self.model_path)

    @property
    def metadata(self) -> dict:
        """The model's metadata_props, JSON values decoded."""
        raw = self.session.get_modelmeta().custom_metadata_map
        return {key: json.loads(value) for key, value in raw.items()}

    def predict_ab(self, lightness_plane: np.ndarray, hints: np.ndarray | None = None,
                   global_hint: np.ndarray | None = None) -> np.ndarray:
        """Float32 L (H, W) -> float32 ab (H, W, 2): windows over the plane (reflect-padded up to one window),
        `batch` windows per network call, predictions blended where windows overlap. The guided model also takes
        hints, float32 (3, H, W) (guided.hint_plane; cut into the same windows, zero-padded), and a global hint
        (Q,), the same for every window; both zero when None.

        Memory: the ab result is the only full-size array; windows are cut, normalised and denormalised one
        batch at a time, and the blend weights are two 1-D totals (see BLEND_RAMPS)."""
        h, w = lightness_plane.shape
        win = self.window
        if h < win or w < win:
            lightness_plane = np.pad(lightness_plane, ((0, max(0, win - h)), (0, max(0, win - w))), mode="symmetric")
            if hints is not None:
                hints = np.pad(hints, ((0, 0), (0, max(0, win - h)), (0, max(0, win - w))))
        ph, pw = lightness_plane.shape
        rows, columns = window_starts(ph, win, self.stride), window_starts(pw, win, self.stride)
        corners = [(y, x) for y in rows for x in columns]
        ab = np.zeros((ph, pw, 2), np.float32)
        ramp_2d = np.outer(self.window_ramp, self.window_ramp)[None, :, :, None] if self.blend != "mean" else None
        if self.guided:  # built once: the same global hint for every window, and zeros where there are no pins
            global_rows = np.repeat(np.zeros((1, len(self.ab_cells)), np.float32) if global_hint is None
                                    else np.asarray(global_hint, np.float32)[None], self.batch, axis=0)
            no_pins = np.zeros((self.batch, 3, win, win), np.float32) if hints is None else None
        for first in range(0, len(corners), self.batch):
            chunk = corners[first:first + self.batch]
            windows = np.stack([lightness_plane[y:y + win, x:x + win] for y, x in chunk])[:, None]
            feed = {self.input_name: colour.normalise_lightness(windows, self.contract)}
            if self.guided:
                feed["hints"] = (np.stack([hints[:, y:y + win, x:x + win] for y, x in chunk]) if hints is not None
                                 else no_pins[:len(chunk)])
                feed["global_hint"] = global_rows[:len(chunk)]
            prediction = self.session.run(self.output_names, feed)[0]
            prediction = colour.denormalise_ab(prediction.transpose(0, 2, 3, 1), self.contract)  # (n, win, win, 2)
            if ramp_2d is not None:
                prediction *= ramp_2d
            for (y, x), window_ab in zip(chunk, prediction):
                ab[y:y + win, x:x + win] += window_ab
        ab *= (np.float32(self.saturation) / _total_weight(ph, rows, self.window_ramp))[:, None, None]
        ab *= (1 / _total_weight(pw, columns, self.window_ramp))[None, :, None]
        return ab if (ph, pw) == (h, w) else np.ascontiguousarray(ab[:h, :w])

    def colorize(self, image, hints=None, reference=None, *, rgb: bool = False, reference_strength: float = 1.0):
        """Gray (H, W), BGR (H, W, 3) or BGRA (H, W, 4), uint8 or uint16 -> BGR (H, W, 3), or BGRA with the
        input's alpha untouched, in the input's dtype. Colour inputs are reduced to their lightness first;
        the input's own lightness is kept. Also takes (inputs.py) RGB or RGBA arrays with rgb=True (the result
        is then RGB or RGBA), a PIL image (the result is a PIL image), a file path or an image file's bytes (the
        result is a BGR array, RGB with rgb=True); anything else raises ColorizeError.

        hints: colours pinned at points of the photo, [(x, y, color), ...] ({"x", "y", "color"} dicts or
        guided.Hint too; color "#rrggbb" or a CSS name; x, y pixels, origin top-left): each colours the surface it
        sits on (pins.py). reference: a colour photo (a path, a BGR array, or self.reference(photo) computed once
        for many photos) whose colours guide the whole photo, carried over at reference_strength (0: ignored,
        1: the default, up to 3). Both need the guided model (model="guided")."""
        image, give_back = inputs.accept(image, rgb)
        channels = image.shape[2] if image.ndim == 3 else 1
        if image.dtype not in (np.uint8, np.uint16) or image.ndim not in (2, 3) or channels not in (1, 3, 4) \
                or image.size == 0:
            raise ColorizeError(f"expected a gray (H, W), BGR (H, W, 3) or BGRA (H, W, 4) uint8 or uint16 array, "
                                f"got {image.dtype} {image.shape}")
        gray_or_bgr = image.reshape(image.shape[:2]) if channels == 1 else image[..., :3]
        bgr = colour.recolour(gray_or_bgr, self.predict_colour(gray_or_bgr, hints, reference, reference_strength))
        return give_back(np.dstack([bgr, image[..., 3]]) if channels == 4 else bgr)

    def colorize_file(self, source: str | Path, target: str | Path, *, force: bool = False,
                      quality: int | None = None, max_pixels: int | None = None, hints=None,
                      reference=None, reference_strength: float = 1.0) -> Path:
        """Colourise an image file into target, whose extension picks the format (JPEG, PNG, TIFF, WebP, BMP).

        The rules of colorize-run: the output keeps the input's bit depth and alpha where its format can; the
        input is never overwritten, even with force; an existing target raises OutputExistsError unless force;
        the write is atomic (a temporary file, then a rename). A file with more than max_pixels pixels is refused
        before it is decoded. quality: JPEG and WebP quality, 1-100 (None: files.DEFAULT_QUALITY); max_pixels:
        None for files.DEFAULT_MAX_PIXELS. hints, reference and reference_strength as colorize takes them. Raises
        ColorizeError (files.ImageFileError) with the reason."""
        # imported here: Pillow is needed only by those who read files
        from colorize_runtime import files

        source, target = inputs.file_path(source, "source"), inputs.file_path(target, "target")
        quality = files.DEFAULT_QUALITY if quality is None else quality
        max_pixels = files.DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
        options.check_whole("quality", quality, 1, 100)
        options.check_whole("max_pixels", max_pixels)
        files.check_target(source, target, force)
        image = files.read_image(source, max_pixels)
        files.write_image(target, self.colorize(image, hints, reference, reference_strength=reference_strength),
                          quality)
        return target

    def predict_colour(self, image: np.ndarray, hints=None, reference=None, reference_strength: float = 1.0
                       ) -> np.ndarray:
        """Gray (H, W) or BGR (H, W, 3), uint8 or uint16 -> float32 ab (h, w, 2) at the working resolution: the
        photo scaled down (INTER_AREA, as training scales its photos) until its short side is `size`, or the photo
        itself when it is no larger or size is None. colour.recolour scales ab back up to the photo: colour is
        low-frequency, and the photo's full-resolution lightness keeps the detail. hints, reference and
        reference_strength: as colorize takes them (guided.guided_colour)."""
        plane = self.working_lightness(image)
        if hints is None and reference is None:
            return self.colour_of_lightness(plane)
        from colorize_runtime import guided

        return guided.guided_colour(self, image.shape[:2], plane, hints, reference, reference_strength)

    def reference(self, photo, *, rgb: bool = False) -> "guided.Reference":
        """A reference photo, anything colorize takes (a BGR array, RGB with rgb=True, a PIL image, a path, an
        image file's bytes) -> its colours as the guided model takes them, to pass as colorize's reference for
        many photos without reading it again. Raises ColorizeError."""
        from colorize_runtime import guided

        return guided.Reference.of(self, photo, rgb=rgb)

    def suggest(self, image, x: float, y: float, hints=None, reference=None, count: int | None = None, *,
                rgb: bool = False, reference_strength: float = 1.0) -> list:
        """The colours the guided model finds most likely at pixel (x, y) of the photo (anything colorize takes,
        rgb as there), given the hints and reference so far: [guided.Suggestion(hex, ab, probability)], at most
        count (None: guided.SUGGESTIONS), most likely first (guided.suggest). Raises ColorizeError."""
        from colorize_runtime import guided

        x, y = guided.pixel_position(x, y, "the point")
        if count is not None:
            options.check_whole("count", count)
        return guided.suggest(self, inputs.photo(image, rgb), x, y, hints, reference, count, reference_strength)

    def working_lightness(self, image: np.ndarray) -> np.ndarray:
        """Gray (H, W) or BGR (H, W, 3), uint8 or uint16 -> float32 L (h, w) at the working resolution (see
        predict_colour): what the network sees."""
        h, w = image.shape[:2]
        if self.size is not None and min(h, w) > self.size:
            scale = self.size / min(h, w)
            image = scale_down(image, max(1, round(w * scale)), max(1, round(h * scale)))
        return (colour.lightness_16bit if image.dtype == np.uint16 else colour.lightness)(image)

    def colour_of_lightness(self, plane: np.ndarray, mirror: bool | None = None, hints: np.ndarray | None = None,
                            global_hint: np.ndarray | None = None) -> np.ndarray:
        """Float32 L (h, w) at the working resolution -> float32 ab (h, w, 2): predict_ab, averaged with the
        mirrored plane's prediction when mirror (None: the Colorizer's own setting); hints (3, h, w) and
        global_hint as predict_ab takes them (the hints mirrored with the plane)."""
        ab = self.predict_ab(plane, hints, global_hint)
        if self.mirror if mirror is None else mirror:
            mirrored_hints = None if hints is None else np.ascontiguousarray(hints[:, :, ::-1])
            ab += self.predict_ab(np.ascontiguousarray(plane[:, ::-1]), mirrored_hints, global_hint)[:, ::-1]
            ab *= np.float32(0.5)
        return ab

    def colorize_frames(self, frames, temporal_smoothing: float | None = None, network_interval: int | None = None,
                        reference=None, *, rgb: bool = False, reference_strength: float = 1.0):
        """Colourise a film's frames in order (an iterable of gray or colour frames, each as colorize takes it:
        arrays, BGR or RGB with rgb=True, PIL images, paths, bytes) -> an iterator of colour frames of the same
        kind, the colour smoothed over time and reset at scene cuts, the network on every network_interval-th
        frame: video.colorize_frames (reference: a colour photo guiding every frame, with the guided model). For
        apps that decode and encode video themselves; needs no PyAV. Raises ColorizeError (a frame's as it comes)."""
        from colorize_runtime import video

        try:
            frames = iter(frames)
        except TypeError:
            raise ColorizeError(f"frames must be an iterable of frames, not {type(frames).__name__}") from None
        return video.colorize_frames(self, frames, temporal_smoothing, network_interval=network_interval,
                                     reference=reference, rgb=rgb, reference_strength=reference_strength)

    def colorize_video(self, source: str | Path, target: str | Path, **options):
        """Colourise a video file into target (H.264; audio and subtitles copied): video.colorize_video, whose
        keywords it takes (force, crf, temporal_smoothing, network_interval, progress, reference,
        reference_strength). Needs
        colorize-runtime[video] (PyAV)."""
        from colorize_runtime import video

        return video.colorize_video(self, source, target, **options)


def colorize(image, *, rgb: bool = False, **options):
    """One-off convenience: Colorizer(**options).colorize(image, rgb=rgb). Build a Colorizer to reuse its
    session."""
    return Colorizer(**options).colorize(image, rgb=rgb)
