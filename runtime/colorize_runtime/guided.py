"""Colour a person steers: point hints, a reference photo and suggested colours, for the guided model
(models/colorize_guided.onnx, Zhang, Zhu et al. 2017's user-guided colourisation).

A hint pins a colour at a point of the photo: its a, b are given to the network there (the photo's own lightness
is kept), and the network spreads it over the object the point lies on. A reference photo's colours (their
distribution over the model's ab cells) guide the whole photo. Suggested colours at a point are the main modes of
the colour distribution the network sees there. The hint contract, in the model's metadata under "hints":
hints [N, 3, 256, 256] (normalised a, b and a mask, 0 where there is no pin), global_hint [N, Q] (a distribution
over the Q ab cells, all zero for none), and the outputs ab and distribution (p over the cells at 1/8 size).
"""
from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageColor

from colorize_runtime import colour, inputs
from colorize_runtime.errors import ColorizeError

PIN_SIZE = 3              # a pin covers PIN_SIZE x PIN_SIZE pixels of the working resolution (training: 1 to 9)
REFERENCE_SIGMA = 5.0     # a reference's colours are spread on the cells by a Gaussian this wide (CIELAB units)
REFERENCE_SHORT_SIDE = 256
MIN_REFERENCE_CHROMA = 2.0  # mean chroma below this: the reference "has no colour"
SUGGESTIONS = 8           # the palette of suggested colours at a point: at most this many
SUGGESTION_SPACING = 20.0  # CIELAB ab units between any two suggestions (measured: the truth is within 15 units
#                           of one of the first five at 64-66 % of colourful points with 15-20, 47 % with 10)
SUGGESTION_SMOOTHING = 7.0  # a cell's weight is the probability within about this many units of it
MIN_SUGGESTION_SHARE = 0.005
REFERENCE_TRANSFER = 0.3  # at reference strength 1, ab moves this share of the way to the reference's colours
REFERENCE_LIGHTNESS_BINS = 10  # the reference's mean colour is taken per band of lightness (0-10, ..., 90-100)
MAX_REFERENCE_STRENGTH = 3.0


def colour_ab(text: str) -> tuple[float, float]:
    """A colour, "#rrggbb" (or any form Pillow's ImageColor reads: "#rgb", CSS names such as "navy", "rgb(...)")
    -> its CIELAB a, b by the colour contract. Raises ColorizeError for anything else."""
    try:
        red, green, blue = ImageColor.getrgb(str(text).strip())[:3]
    except ValueError:
        raise ColorizeError(f"unknown colour {text!r}: use #rrggbb or a CSS colour name such as navy") from None
    if not all(0 <= component <= 255 for component in (red, green, blue)):  # Pillow passes rgb(300,0,0) on
        raise ColorizeError(f"colour {text!r} is outside the sRGB range (red, green, blue 0-255, percentages "
                            "0-100%)")
    lab = colour.bgr_to_lab(np.array([[[blue, green, red]]], np.uint8))[0, 0]
    return float(lab[1]), float(lab[2])


@dataclass(frozen=True)
class Hint:
    """A colour pinned at pixel (x, y) of the input photo (origin top-left); color as given, ab its a, b."""
    x: float
    y: float
    color: str
    ab: tuple[float, float]

    @classmethod
    def make(cls, x, y, color: str) -> Hint:
        x, y = pixel_position(x, y, "hint position")
        return cls(x, y, str(color), colour_ab(color))


def pixel_position(x, y, what: str) -> tuple[float, float]:
    """x, y as floats, or ColorizeError unless both are finite numbers: a string or a boolean is not one (a hints
    file's "10" or true is a mistake to report, not to guess at)."""
    if not all(isinstance(value, numbers.Real) and not isinstance(value, bool) for value in (x, y)):
        raise ColorizeError(f"{what} {x!r}, {y!r} is not a pair of numbers")
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ColorizeError(f"{what} {x}, {y} is not a pair of finite numbers")
    return float(x), float(y)


def parse_hint(text: str) -> Hint:
    """"X,Y,COLOR" (the command line's --hint) -> Hint."""
    parts = text.split(",", 2)
    try:
        x, y = float(parts[0]), float(parts[1])
    except (IndexError, ValueError):
        x = y = None
    if len(parts) != 3 or x is None:
        raise ColorizeError(f"hint {text!r} is not X,Y,COLOR (for example 120,80,#3060c0 or 120,80,navy)")
    return Hint.make(x, y, parts[2])


def parse_point(text: str) -> tuple[float, float]:
    """"X,Y" (the command line's --suggest) -> (x, y)."""
    parts = text.split(",")
    try:
        x, y = (float(part) for part in parts)
    except ValueError:
        raise ColorizeError(f"point {text!r} is not X,Y (for example 120,80)") from None
    return x, y


def as_hints(hints) -> list[Hint]:
    """What the API takes as hints -> [Hint]: Hint objects, (x, y, color) tuples or {"x", "y", "color"} dicts."""
    if hints is None:
        return []
    if isinstance(hints, (str, bytes, dict)) or not hasattr(hints, "__iter__"):
        raise ColorizeError("hints must be a list of (x, y, color) tuples, {'x', 'y', 'color'} dicts or Hints")
    result = []
    for hint in hints:
        if isinstance(hint, Hint):
            result.append(hint)
        elif isinstance(hint, dict):
            if set(hint) != {"x", "y", "color"}:
                raise ColorizeError(f"hint {hint!r} must have exactly the keys x, y and color")
            result.append(Hint.make(hint["x"], hint["y"], hint["color"]))
        elif isinstance(hint, (tuple, list)) and len(hint) == 3:
            result.append(Hint.make(*hint))
        else:
            raise ColorizeError(f"hint {hint!r} is not (x, y, color), a {{'x', 'y', 'color'}} dict or a Hint")
    return result


MAX_HINTS_FILE_BYTES = 16 * 2 ** 20  # about 200,000 hints


def read_hints_file(path: str | Path) -> list[Hint] | dict[str, list[Hint]]:
    """--hints FILE: JSON, a list of {"x", "y", "color"} (for every photo of the run), or an object of such lists
    keyed by input file name (for a batch). Raises ColorizeError naming the file and the reason."""
    from colorize_runtime import files

    try:
        data = json.loads(files.read_regular_file(path, "a hints file", MAX_HINTS_FILE_BYTES).decode("utf-8"))
    except ColorizeError as error:
        raise ColorizeError(f"{path}: cannot read the hints file ({error})") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ColorizeError(f"{path}: the hints file is not JSON ({error})") from None
    except RecursionError:
        raise ColorizeError(f"{path}: the hints file is not a list of hints (its JSON is nested too deeply)") \
            from None
    try:
        if isinstance(data, list):
            return as_hints(data)
        if isinstance(data, dict) and all(isinstance(value, list) for value in data.values()):
            return {str(name): as_hints(value) for name, value in data.items()}
        raise ColorizeError('expected a list of {"x": .., "y": .., "color": ".."} or an object of such lists '
                            "keyed by file name")
    except ColorizeError as error:
        raise ColorizeError(f"{path}: {error}") from None


def check_hints_inside(hints: list[Hint], width: int, height: int) -> None:
    for hint in hints:
        if not (0 <= hint.x < width and 0 <= hint.y < height):
            raise ColorizeError(f"hint at {hint.x:g},{hint.y:g} is outside the {width}x{height} photo")


def to_working(x: float, y: float, size: tuple[int, int], working: tuple[int, int]) -> tuple[int, int]:
    """Pixel (x, y) of a photo of size (height, width) -> the nearest pixel of its working-resolution plane."""
    (height, width), (h, w) = size, working
    column = int(np.clip(np.floor((x + 0.5) * w / width), 0, w - 1))
    row = int(np.clip(np.floor((y + 0.5) * h / height), 0, h - 1))
    return column, row


def hint_plane(hints: list[Hint], size: tuple[int, int], working: tuple[int, int], contract: dict) -> np.ndarray:
    """The hints of a photo of size (height, width) -> the network's hint input at the working resolution
    (h, w): float32 (3, h, w), normalised a, b and the mask, each pin PIN_SIZE pixels square."""
    plane = np.zeros((3,) + tuple(working), np.float32)
    half = PIN_SIZE // 2
    for hint in hints:
        column, row = to_working(hint.x, hint.y, size, working)
        rows, columns = slice(max(0, row - half), row + half + 1), slice(max(0, column - half), column + half + 1)
        plane[0, rows, columns], plane[1, rows, columns] = np.float32(hint.ab) / np.float32(contract["ab_scale"])
        plane[2, rows, columns] = 1
    return plane


def ab_distribution(ab: np.ndarray, cells: np.ndarray, sigma: float = REFERENCE_SIGMA) -> np.ndarray:
    """The distribution of colours ab (CIELAB units, (..., 2)) over the ab cells ((Q, 2), CIELAB units), each
    pixel spread on the cells by a Gaussian of width sigma (a smoothed histogram), summing to 1: the global hint.
    At most 4,096 pixels, evenly spaced, are counted."""
    pixels = np.asarray(ab, np.float32).reshape(-1, 2)
    if len(pixels) > 4096:
        pixels = pixels[np.linspace(0, len(pixels) - 1, 4096).astype(np.int64)]
    distance_sq = ((pixels[:, None, :] - np.asarray(cells, np.float32)[None]) ** 2).sum(-1)
    weights = np.exp(-(distance_sq - distance_sq.min(axis=1, keepdims=True)) / (2 * sigma ** 2))
    histogram = (weights / weights.sum(axis=1, keepdims=True)).sum(axis=0)
    return (histogram / histogram.sum()).astype(np.float32)


def lightness_bands(lightness: np.ndarray) -> np.ndarray:
    """CIELAB L -> its band, 0 to REFERENCE_LIGHTNESS_BINS - 1 (int64, the same shape)."""
    bands = np.floor(np.asarray(lightness, np.float32) * (REFERENCE_LIGHTNESS_BINS / 100.0)).astype(np.int64)
    return np.clip(bands, 0, REFERENCE_LIGHTNESS_BINS - 1)


def band_means(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """The mean ab in each lightness band ((REFERENCE_LIGHTNESS_BINS, 2)), each band's mean pulled towards the
    overall mean by how few pixels it has (a band with 1 % of the pixels is half its own, half the overall)."""
    bands = lightness_bands(lightness).ravel()
    ab = np.asarray(ab, np.float64).reshape(-1, 2)
    counts = np.bincount(bands, minlength=REFERENCE_LIGHTNESS_BINS).astype(np.float64)
    sums = np.stack([np.bincount(bands, ab[:, channel], REFERENCE_LIGHTNESS_BINS) for channel in (0, 1)], axis=1)
    share = (counts / (counts + 0.01 * len(bands)))[:, None]
    own = sums / np.maximum(counts, 1)[:, None]
    return (share * own + (1 - share) * ab.mean(axis=0)).astype(np.float32)


def reference_distribution(image: np.ndarray, cells: np.ndarray, name: str = "reference") -> Reference:
    """A colour photo (BGR or BGRA, uint8 or uint16) -> its Reference: its global hint (ab_distribution) and its
    mean colour per band of lightness (band_means). Raises ColorizeError for a photo without colour (gray, or a
    mean chroma below MIN_REFERENCE_CHROMA)."""
    if image.ndim == 2 or image.shape[2] == 1:
        raise ColorizeError(f"{name}: the reference photo has no colour (it is gray)")
    bgr = image[..., :3]
    if bgr.dtype == np.uint16:
        bgr = (bgr >> 8).astype(np.uint8)
    h, w = bgr.shape[:2]
    if min(h, w) > REFERENCE_SHORT_SIDE:
        scale = REFERENCE_SHORT_SIDE / min(h, w)
        bgr = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    lab = colour.bgr_to_lab(np.ascontiguousarray(bgr))
    ab = lab[..., 1:]
    if float(np.hypot(ab[..., 0], ab[..., 1]).mean()) < MIN_REFERENCE_CHROMA:
        raise ColorizeError(f"{name}: the reference photo has no colour (it is gray)")
    return Reference(ab_distribution(ab, cells), band_means(lab[..., 0], ab))


def read_reference(path: str | Path, cells: np.ndarray, max_pixels: int | None = None) -> Reference:
    """--reference PHOTO -> its Reference. Raises ColorizeError naming the file and the reason."""
    from colorize_runtime import files

    try:
        image = files.read_image(Path(path), max_pixels or files.DEFAULT_MAX_PIXELS)
    except ColorizeError as error:
        raise ColorizeError(f"{path}: the reference is not a readable colour photo ({error})") from None
    return reference_distribution(image, cells, str(path))


@dataclass(frozen=True)
class Suggestion:
    """A likely colour at a point: as #rrggbb (with the photo's lightness there), its a, b and its probability
    (the share of the network's distribution nearer to it than to the other suggestions)."""
    hex: str
    ab: tuple[float, float]
    probability: float


def palette(probabilities: np.ndarray, cells: np.ndarray, count: int = SUGGESTIONS,
            spacing: float = SUGGESTION_SPACING) -> list[tuple[tuple[float, float], float]]:
    """Distinct likely colours of a distribution over the ab cells ((Q,), cells (Q, 2)): the cells in order of
    the probability near them (within about SUGGESTION_SMOOTHING units), each taken unless it is closer than
    spacing to one taken already, at most count. Each comes with the share of the distribution nearer to it than
    to any other taken (so that the shares of a full palette add up to about 1); most likely first, none below
    MIN_SUGGESTION_SHARE."""
    cells = np.asarray(cells, np.float64)
    probabilities = np.asarray(probabilities, np.float64)
    distance_sq = np.square(cells[:, None] - cells[None]).sum(-1)
    near = (probabilities[None] * np.exp(-distance_sq / (2 * SUGGESTION_SMOOTHING ** 2))).sum(axis=1)
    taken: list[int] = []
    for cell in np.argsort(-near, kind="stable"):
        if all(distance_sq[cell, other] >= spacing ** 2 for other in taken):
            taken.append(int(cell))
            if len(taken) == count:
                break
    nearest = np.argmin(distance_sq[:, taken], axis=1)
    shares = np.bincount(nearest, probabilities, len(taken)) / max(probabilities.sum(), 1e-12)
    colours = [((float(cells[cell, 0]), float(cells[cell, 1])), float(share)) for cell, share in zip(taken, shares)]
    return sorted((c for c in colours if c[1] >= MIN_SUGGESTION_SHARE), key=lambda c: -c[1])


def lab_hex(lightness: float, ab: tuple[float, float]) -> str:
    """CIELAB (the contract's float conversion) -> "#rrggbb" (out-of-gamut colours clipped, as recolour does)."""
    lab = np.array([[[lightness, ab[0], ab[1]]]], np.float32)
    blue, green, red = np.clip(np.rint(cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)[0, 0] * 255), 0, 255).astype(int)
    return f"#{red:02x}{green:02x}{blue:02x}"


def _require_guided(colorizer) -> None:
    if not colorizer.guided:
        raise ColorizeError(f"{colorizer.model_path.name} takes no hints or reference: use the guided model "
                            f"(--model guided, Colorizer(model='guided'))")


@dataclass(frozen=True)
class Reference:
    """A reference photo's colours: its distribution over the ab cells (the guided network's global hint) and
    its mean colour in each band of lightness (band_means), which transfer_reference moves the colours towards."""
    distribution: np.ndarray
    band_means: np.ndarray

    @classmethod
    def of(cls, colorizer, photo, rgb: bool = False) -> Reference:
        """photo: a Reference (returned as it is), a path, or anything else colorize takes (inputs.photo: a BGR(A)
        array, RGB(A) with rgb, a PIL image, an image file's bytes)."""
        _require_guided(colorizer)
        if isinstance(photo, Reference):
            return photo
        if isinstance(photo, (str, os.PathLike)):
            return read_reference(photo, colorizer.ab_cells)
        if not isinstance(photo, (np.ndarray, bytes, bytearray, memoryview)) and not isinstance(photo, Image.Image):
            raise ColorizeError("reference must be a photo (a path, a BGR(A) uint8 or uint16 array, RGB(A) with "
                                f"rgb=True, a PIL image or an image file's bytes) or a Reference, not "
                                f"{type(photo).__name__}")
        try:
            image = inputs.photo(photo, rgb)
        except ColorizeError as error:
            raise ColorizeError(f"reference: {error}") from None
        return reference_distribution(image, colorizer.ab_cells)


def check_reference_strength(strength) -> float:
    """The reference strength, a number from 0 (the reference is ignored) to MAX_REFERENCE_STRENGTH; 1 is the
    default. Raises ColorizeError otherwise."""
    try:
        value = float(strength)
    except (TypeError, ValueError):
        raise ColorizeError(f"reference strength {strength!r} is not a number") from None
    if not 0 <= value <= MAX_REFERENCE_STRENGTH:
        raise ColorizeError(f"reference strength must be between 0 and {MAX_REFERENCE_STRENGTH:g}, not {strength}")
    return value


def transfer_reference(ab: np.ndarray, lightness: np.ndarray, reference: Reference, strength: float) -> np.ndarray:
    """The reference's colours carried over (working resolution, ab (h, w, 2), L (h, w)): in each band of
    lightness the mean colour moves REFERENCE_TRANSFER x strength of the way to the reference's mean colour in
    that band (the reference's sky to the photo's bright parts, its dark coats to the dark ones). Each pixel moves
    by the shift of the bands around it, interpolated linearly between the bands' centres in L (no step at a
    band's edge to draw contours across a sky), so that the photo's own variations stay."""
    own = band_means(lightness, ab)
    shift = (np.float32(REFERENCE_TRANSFER * strength) * (reference.band_means - own)).astype(np.float32)
    position = np.clip(np.asarray(lightness, np.float32) * np.float32(REFERENCE_LIGHTNESS_BINS / 100.0)
                       - np.float32(0.5), 0, REFERENCE_LIGHTNESS_BINS - 1)
    below = np.minimum(np.floor(position).astype(np.int64), REFERENCE_LIGHTNESS_BINS - 2)
    above_share = (position - below)[..., None]
    return ab + (1 - above_share) * shift[below] + above_share * shift[below + 1]


def network_hints(colorizer, size: tuple[int, int], working: tuple[int, int], hints, reference
                  ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The API's hints and reference for a photo of size (height, width) seen at the working resolution ->
    (hint plane (3, h, w) or None, global hint (Q,) or None), checked."""
    _require_guided(colorizer)
    hints = as_hints(hints)
    check_hints_inside(hints, size[1], size[0])
    plane = hint_plane(hints, size, working, colorizer.contract) if hints else None
    distribution = None if reference is None else Reference.of(colorizer, reference).distribution
    return plane, distribution


def guided_colour(colorizer, size: tuple[int, int], plane: np.ndarray, hints, reference,
                  reference_strength: float = 1.0) -> np.ndarray:
    """The colour (h, w, 2) of a photo of size (height, width) whose working-resolution lightness is plane, with
    the API's hints and reference: the guided network's automatic colour given the reference (its global hint),
    the reference's colours carried over at reference_strength (transfer_reference), and the pins acting where
    they are put (pins.pinned_colour, from the network's answer with the pins)."""
    from colorize_runtime import pins

    _require_guided(colorizer)
    hints = as_hints(hints)
    check_hints_inside(hints, size[1], size[0])
    strength = check_reference_strength(reference_strength)
    reference = None if reference is None else Reference.of(colorizer, reference)
    if strength == 0:
        reference = None
    global_hint = None if reference is None else reference.distribution

    def network_colour(hint_input: np.ndarray | None) -> np.ndarray:
        ab = colorizer.colour_of_lightness(plane, hints=hint_input, global_hint=global_hint)
        return ab if reference is None else transfer_reference(ab, plane, reference, strength)

    automatic = network_colour(None)
    if not hints:
        return automatic
    answer = network_colour(hint_plane(hints, size, plane.shape, colorizer.contract))
    placed = [to_working(hint.x, hint.y, size, plane.shape) for hint in hints]
    return pins.pinned_colour(plane, automatic, answer,
                              [(row, column, hint.ab) for (column, row), hint in zip(placed, hints)])


def suggest(colorizer, image: np.ndarray, x: float, y: float, hints=None, reference=None,
            count: int | None = None, reference_strength: float = 1.0) -> list[Suggestion]:
    """The colours most likely at pixel (x, y) of the photo (gray, BGR or BGRA array), given hints and a
    reference: a palette of the guided network's distribution there (palette), each as the
    colour it gives with the photo's own lightness at that point."""
    _require_guided(colorizer)
    height, width = image.shape[:2]
    check_hints_inside([Hint(x, y, "", (0.0, 0.0))], width, height)
    gray_or_bgr = image if image.ndim == 2 else image[..., :3]
    plane = colorizer.working_lightness(gray_or_bgr)
    if check_reference_strength(reference_strength) == 0:
        reference = None
    hint_input, global_hint = network_hints(colorizer, (height, width), plane.shape, hints, reference)
    column, row = to_working(x, y, (height, width), plane.shape)
    win = colorizer.window
    padded = np.pad(plane, ((0, max(0, win - plane.shape[0])), (0, max(0, win - plane.shape[1]))), "symmetric")
    top = int(np.clip(row - win // 2, 0, padded.shape[0] - win))  # the window centred on the point
    left = int(np.clip(column - win // 2, 0, padded.shape[1] - win))
    hint_window = np.zeros((1, 3, win, win), np.float32)
    if hint_input is not None:
        cut = hint_input[:, top:top + win, left:left + win]
        hint_window[0, :, :cut.shape[1], :cut.shape[2]] = cut
    feed = {"L": colour.normalise_lightness(padded[None, None, top:top + win, left:left + win], colorizer.contract),
            "hints": hint_window,
            "global_hint": (np.zeros((1, len(colorizer.ab_cells)), np.float32) if global_hint is None
                            else global_hint[None])}
    distribution = colorizer.session.run(["distribution"], feed)[0][0]  # (Q, win / 8, win / 8)
    cell = win // distribution.shape[-1]
    probabilities = distribution[:, (row - top) // cell, (column - left) // cell]
    lightness = float(plane[row, column])
    return [Suggestion(lab_hex(lightness, ab), ab, share)
            for ab, share in palette(probabilities, colorizer.ab_cells, count or SUGGESTIONS)]


@dataclass
class RunGuidance:
    """The hints and reference of a colorize-run command: each photo's hints, and one reference for them all."""
    hints: dict[Path, list[Hint]]
    reference: Reference | None
    reference_strength: float = 1.0

    def for_photo(self, source: Path | None = None) -> dict:
        """Colorizer.colorize's (and suggest's) keywords for a photo of the run."""
        return {"hints": self.hints.get(source) or None, "reference": self.reference,
                "reference_strength": self.reference_strength}


def plan_run(colorizer, hint_texts: list[str] | None, hints_file: str | None, reference: str | None,
             photos: list[Path], videos: list[Path], max_pixels: int | None = None,
             reference_strength: float = 1.0) -> RunGuidance:
    """--hint, --hints and --reference for the photos and videos of a run, all checked before any is touched:
    every hint's colour, the file's JSON and schema, each name in a per-file hints file matching an input, every
    point inside its photo (from the header), hints only for photos, a reference that is a readable colour photo,
    the reference strength.
    Raises ColorizeError with the one-line reason."""
    from colorize_runtime import files

    _require_guided(colorizer)
    reference_strength = check_reference_strength(reference_strength)
    everywhere = [parse_hint(text) for text in hint_texts or []]
    per_photo: dict[Path, list[Hint]] = {path: list(everywhere) for path in photos}
    if hints_file:
        loaded = read_hints_file(hints_file)
        if isinstance(loaded, list):
            for path in photos:
                per_photo[path] += loaded
        else:
            for name, hints in loaded.items():
                matches = [path for path in photos + videos if name in (str(path), path.name, path.as_posix())]
                if not matches:
                    raise ColorizeError(f"{hints_file}: the hints for {name!r} match no input photo")
                for path in matches:
                    if path in videos and hints:
                        raise ColorizeError(f"{path}: hints apply to photos; a video takes --reference")
                    per_photo.setdefault(path, []).extend(hints)
    if everywhere and videos:
        raise ColorizeError(f"{videos[0]}: --hint applies to photos; a video takes --reference")
    for path, hints in per_photo.items():
        if hints:
            try:
                width, height = files.image_size(path)
            except ColorizeError:
                continue  # the photo's own error is reported when its turn comes
            try:
                check_hints_inside(hints, width, height)
            except ColorizeError as error:
                raise ColorizeError(f"{path}: {error}") from None
    return RunGuidance({path: hints for path, hints in per_photo.items() if hints},
                       Reference.of(colorizer, reference) if reference else None, reference_strength)
