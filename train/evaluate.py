"""Measure a model the way users meet it: python -m train.evaluate --model M --data DIR --out DIR [options].

Every colour photo under DIR is reduced to a 1-channel gray image (cv2 BGR2GRAY of the original), colourised by
the real runtime (colorize_runtime.Colorizer, the code path of colorize-run, options passed through) and
compared with the original. The gray input itself is scored the same way: the floor a colouriser must beat.
Means are over photos (each photo weighs the same), overall and per source folder (the first folder level
under DIR). Files that cannot be decoded and gray photos (no colour to compare with) are skipped and listed.
Writes OUT/evaluation.json and OUT/evaluation_grid.png (gray | ours | truth for the first photo scored in every
source folder) and prints a table. Several --data folders are evaluated one after the other, each into
OUT/evaluation_NAME.json and OUT/evaluation_grid_NAME.png (NAME: the folder's name).

Besides PSNR, SSIM and AuC, two measures of colour that a sepia or gray guess cannot score well on: the
rebalanced AuC (Zhang et al. 2016: AuC with each pixel weighted by the inverse frequency of its true ab cell,
train/bins.py's 10-unit cells, over all scored photos of the folder given, so rare saturated colours count as much as
common dull ones) and colourfulness (Hasler & Suesstrunk) against the truth's: the gap |ours - truth| per photo
and the ratio of the means. The garish share: the % of pixels whose colour is strong (chroma above
GARISH_CHROMA) and wrong (ab more than GARISH_ERROR from the truth's): what a viewer does not forgive. The cast:
the mean chroma of our colours over the pixels whose true chroma is below NEUTRAL_CHROMA (gray walls, white
paint, haze), averaged over the photos that have such pixels: what a sepia tint raises.

Guided colour (the guided model, models/colorize_guided.onnx): --hints N gives each photo N points simulated from
its truth (seeded, spread at random over the photo; each the true mean ab of the pin's patch at the working
resolution, as a user who knows the colours would click), --reference own gives the photo itself as the reference,
--reference folder another photo of the same source folder (chosen by a seeded rule), at --reference-strength;
--clicks person:N gives each photo N clicks where a person clicks (person_clicks). With hints, each photo's
median ab distance between the output and the hints at the hint points is recorded too; with any guidance, each
photo's gain over the automatic colours and the share of photos that lose more than 0.5 dB. --suggestions scores
the suggested colours (score_suggestions).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from matplotlib.figure import Figure
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from tqdm import tqdm

from colorize_runtime import Colorizer, ColorizeError, __version__, colour, guided
from train import bins
from train.data import find_photos

AUC_MAX_THRESHOLD = 150  # Zhang et al. 2016: ab error thresholds 0..150
METRICS = {  # key: (table heading, format)
    "psnr": ("PSNR dB", "{:7.2f}"), "ssim": ("SSIM", "{:6.3f}"), "ab_rmse": ("ab RMSE", "{:7.2f}"),
    "auc": ("AuC %", "{:6.2f}"), "rebalanced_auc": ("AuC-rb", "{:6.2f}"), "colourfulness": ("colourf", "{:7.2f}"),
    "colourfulness_ratio": ("CF/true", "{:7.3f}"), "colourfulness_gap": ("CF gap", "{:6.2f}"),
    "chroma_ratio": ("chroma", "{:6.3f}"), "chroma_ratio_of_means": ("pooled", "{:6.3f}"),
    "garish": ("garish%", "{:7.2f}"), "cast": ("cast", "{:6.2f}"),
}
GARISH_CHROMA, GARISH_ERROR = 20.0, 30.0
NEUTRAL_CHROMA = 5.0  # the cast: the mean chroma we paint where the truth's is below this (gray walls, white paint)
GRID_PANEL_HEIGHT = 256
WORST_LISTED = 5  # the most garish photos named in the report
MIN_TRUTH_CHROMA = 1.0  # mean sqrt(a^2 + b^2) below this: a gray photo, nothing to compare colours with


def auc_percent(ab_error: np.ndarray) -> float:
    """Area under the curve 'fraction of pixels with ab error <= t' for t = 0..150, divided by 150, in %.
    For an integer t, error <= t exactly when ceil(error) <= t, so one bincount gives the whole curve."""
    counts = np.bincount(np.minimum(np.ceil(ab_error).astype(np.int64).ravel(), AUC_MAX_THRESHOLD + 1),
                         minlength=AUC_MAX_THRESHOLD + 2)
    fractions = np.cumsum(counts[:AUC_MAX_THRESHOLD + 1]) / ab_error.size
    return float(100 * np.trapezoid(fractions) / AUC_MAX_THRESHOLD)


def error_counts(ab_error: np.ndarray, truth_lab: np.ndarray) -> np.ndarray:
    """A photo's pixels counted by (true ab cell, ceil(ab error) capped at 151), as sparse rows (cell, error,
    count): what the rebalanced AuC needs once the cells' frequencies over all photos are known."""
    cells = bins.cell_index(truth_lab[..., 1:])
    errors = np.minimum(np.ceil(ab_error).astype(np.int64), AUC_MAX_THRESHOLD + 1)
    keys, counts = np.unique((cells * (AUC_MAX_THRESHOLD + 2) + errors).ravel(), return_counts=True)
    return np.stack([keys // (AUC_MAX_THRESHOLD + 2), keys % (AUC_MAX_THRESHOLD + 2), counts], axis=1)


def add_rebalanced_auc(records: list[dict], counts: list[dict[str, np.ndarray]]) -> None:
    """Each record's rebalanced AuC (ours and floor): its AuC with every pixel weighted by 1 / (the frequency of
    its true ab cell among all the photos' pixels)."""
    cell_totals = np.zeros(bins.GRID_SIDE ** 2)
    for photo in counts:
        np.add.at(cell_totals, photo["ours"][:, 0], photo["ours"][:, 2])
    weights = np.divide(cell_totals.sum(), cell_totals, out=np.zeros_like(cell_totals), where=cell_totals > 0)
    for record, photo in zip(records, counts):
        for side in ("ours", "floor"):
            cell, error, count = photo[side].T
            curve = np.bincount(error, weights=weights[cell] * count, minlength=AUC_MAX_THRESHOLD + 2)
            fractions = np.cumsum(curve[:AUC_MAX_THRESHOLD + 1]) / curve.sum()
            record[side]["rebalanced_auc"] = float(100 * np.trapezoid(fractions) / AUC_MAX_THRESHOLD)


def colourfulness(bgr: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003): rg = R - G, yb = (R + G) / 2 - B; sigma_rgyb + 0.3 * mu_rgyb (0..255 units)."""
    blue, green, red = np.moveaxis(bgr.astype(np.float32), -1, 0)
    rg, yb = red - green, 0.5 * (red + green) - blue
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def mean_chroma(lab: np.ndarray) -> float:
    return float(np.hypot(lab[..., 1], lab[..., 2]).mean())


def score(result: np.ndarray, truth: np.ndarray, truth_lab: np.ndarray, ssim: bool = True
          ) -> tuple[dict, np.ndarray]:
    """Metrics of a BGR uint8 result against the BGR uint8 truth (Lab by the colour contract). PSNR and SSIM are
    on the three colour channels (their order does not matter); ab RMSE is the root mean square of the per-pixel
    Euclidean ab error, in CIELAB units. Also the error counts for the rebalanced AuC (error_counts). ssim False
    leaves SSIM out (the slowest measure; train.sweep scores many decodings of a photo)."""
    lab = colour.bgr_to_lab(result)
    chroma = mean_chroma(lab)
    garish = (np.hypot(lab[..., 1], lab[..., 2]) > GARISH_CHROMA)
    ab_error = np.hypot(lab[..., 1] - truth_lab[..., 1], lab[..., 2] - truth_lab[..., 2])
    garish &= ab_error > GARISH_ERROR
    neutral = np.hypot(truth_lab[..., 1], truth_lab[..., 2]) < NEUTRAL_CHROMA
    result_colourfulness, truth_colourfulness = colourfulness(result), colourfulness(truth)
    return {
        "psnr": float(peak_signal_noise_ratio(truth, result, data_range=255)),
        **({"ssim": float(structural_similarity(truth, result, channel_axis=2, data_range=255))} if ssim else {}),
        "ab_rmse": float(np.sqrt(np.mean(np.square(ab_error)))),
        "auc": auc_percent(ab_error),
        "colourfulness": result_colourfulness,
        "colourfulness_gap": abs(result_colourfulness - truth_colourfulness),
        "chroma": chroma,
        "chroma_ratio": chroma / mean_chroma(truth_lab),
        "garish": float(100 * garish.mean()),
        "cast": float(np.hypot(lab[..., 1], lab[..., 2])[neutral].mean()) if neutral.any() else float("nan"),
    }, error_counts(ab_error, truth_lab)


def evenly_spaced(paths: list[Path], limit: int | None) -> list[Path]:
    """The first, the last and evenly spaced photos between: a --limit subset still spans every folder."""
    if not limit or limit >= len(paths):
        return paths
    return [paths[i] for i in np.linspace(0, len(paths) - 1, limit).round().astype(int)]


def source_folder(path: Path, data: Path) -> str:
    parts = path.relative_to(data).parts
    return parts[0] if len(parts) > 1 else "."


def _mean_of_known(values: list[float]) -> float:
    """The mean of the values that are not NaN (a photo without neutral pixels has no cast), NaN if none is."""
    known = [value for value in values if not np.isnan(value)]
    return float(np.mean(known)) if known else float("nan")


def mean_scores(records: list[dict]) -> dict:
    """Means over photos, and the chroma and colourfulness ratios of the means: unlike the mean of per-photo
    ratios, they are not inflated by a few photos whose truth has almost no colour."""
    summary = {side: {key: _mean_of_known([r[side].get(key, np.nan) for r in records]) for key in records[0][side]}
               for side in ("ours", "floor", "truth")}
    for side in ("ours", "floor"):
        summary[side]["chroma_ratio_of_means"] = summary[side]["chroma"] / summary["truth"]["chroma"]
        summary[side]["colourfulness_ratio"] = summary[side]["colourfulness"] / summary["truth"]["colourfulness"]
    return {"photos": len(records), **summary}


def thumbnail(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    scale = GRID_PANEL_HEIGHT / h
    return cv2.resize(image, (max(1, round(w * scale)), GRID_PANEL_HEIGHT),
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def write_grid(rows: list[tuple[str, list[np.ndarray]]], path: Path,
               titles: tuple[str, ...] = ("gray input", "ours", "truth")) -> None:
    """One row per photo: a column per title (default gray input | ours | truth; BGR panels of equal height), the
    photo named below the second."""
    figure = Figure(figsize=(len(titles) * 3.2, 2.7 * len(rows)), dpi=100, layout="constrained")
    axes = figure.subplots(len(rows), len(titles), squeeze=False)
    for axis, title in zip(axes[0], titles):
        axis.set_title(title, fontsize=9)
    for row, (name, panels) in zip(axes, rows):
        for axis, panel in zip(row, panels):
            axis.imshow(cv2.cvtColor(panel, cv2.COLOR_BGR2RGB))
            axis.set_xticks([])
            axis.set_yticks([])
        row[1].set_xlabel(name, fontsize=8)
    figure.savefig(path)


def format_table(summaries: dict[str, dict]) -> str:
    """One line each for ours and the gray floor per group, the truth's colourfulness beside them."""
    width = max(len(name) for name in summaries) + 2
    header = f"{'':{width}}{'':6}{'n':>5} " + " ".join(f"{h:>{len(f.format(0))}}" for h, f in METRICS.values())
    lines = [header + "  truth colourf"]
    for name, summary in summaries.items():
        for side, label in (("ours", name), ("floor", "")):
            cells = " ".join(fmt.format(summary[side][key]) for key, (_, fmt) in METRICS.items())
            count = f"{summary['photos']:5d}" if side == "ours" else " " * 5
            truth = f"  {summary['truth']['colourfulness']:13.2f}" if side == "ours" else ""
            lines.append(f"{label:{width}}{'ours' if side == 'ours' else 'gray':6}{count} {cells}{truth}")
    lines.append("AuC-rb: rebalanced AuC; CF/true: mean colourfulness over the truth's; CF gap: mean |ours - truth| "
                 "colourfulness; chroma: mean of the per-photo chroma ratios; pooled: mean chroma over mean truth "
                 "chroma")
    return "\n".join(lines)


RUNTIME_OPTIONS = ("providers", "stride", "size", "blend", "saturation", "precision", "mirror")


def _size(text: str) -> int | None:
    return None if text == "full" else int(text)


def _clicks(text: str) -> int:
    kind, _, count = text.partition(":")
    if kind != "person" or not count.isdigit() or int(count) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not person:N (N clicks, 1 or more)")
    return int(count)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="ONNX model (default: the shipped model)")
    parser.add_argument("--data", type=Path, required=True, nargs="+",
                        help="folder tree of colour photos; several: each evaluated on its own")
    parser.add_argument("--out", type=Path, required=True, help="folder for evaluation.json and the grid")
    parser.add_argument("--limit", type=int, default=None, help="evaluate N photos spread evenly over the folders")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime and OpenCV threads (default: 2)")
    runtime = parser.add_argument_group("runtime options, passed to Colorizer only when given (else its defaults)",
                                        argument_default=argparse.SUPPRESS)
    runtime.add_argument("--providers", help="auto | cpu | cuda")
    runtime.add_argument("--stride", type=int, help="window step (px)")
    runtime.add_argument("--size", type=_size, metavar="PX|full", help="short side at which the network sees a photo")
    runtime.add_argument("--blend", help="window blending: mean | weighted")
    runtime.add_argument("--saturation", type=float, help="scale of the predicted ab")
    runtime.add_argument("--precision", help="fp32 | int8")
    guidance = parser.add_argument_group("guided colour (the guided model: --model models/colorize_guided.onnx)")
    guidance.add_argument("--hints", type=int, default=0, metavar="N",
                          help="N points per photo simulated from the truth (seeded), given as hints")
    guidance.add_argument("--clicks", type=_clicks, default=None, metavar="person:N",
                          help="N clicks where a person clicks (person_clicks: the centres of the N largest regions "
                               "of one strong colour), given as hints")
    guidance.add_argument("--reference-strength", type=float, default=1.0, metavar="S",
                          help="the reference strength (colorize-run --reference-strength; default 1)")
    guidance.add_argument("--suggestions", action="store_true",
                          help="also score the suggested colours: at two seeded points of each photo where the "
                               "truth's chroma is above 20, whether the truth is within 15 ab units of one of the "
                               "first five")
    guidance.add_argument("--reference", choices=("own", "folder"), default=None,
                          help="own: the photo itself as the reference photo; folder: another photo of its source "
                               "folder (seeded)")
    guidance.add_argument("--seed", type=int, default=0, help="seed of the simulated hints and references")
    runtime.add_argument("--mirror", action=argparse.BooleanOptionalAction,
                         help="average with the mirrored photo's colours (the runtime's default: on, off with "
                              "--size full)")
    return parser


def run_config(args: argparse.Namespace, colorizer: Colorizer, options: dict) -> dict:
    """What was measured and how: the model (by content), the data, the runtime settings in effect."""
    return {
        "model": str(args.model or "shipped model"),
        "model_sha256": hashlib.sha256(colorizer.model_path.read_bytes()).hexdigest(),
        "training_step": colorizer.metadata.get("training_step"), "runtime_version": __version__,
        "limit": args.limit, "hints": args.hints, "clicks": args.clicks, "reference": args.reference,
        "reference_strength": args.reference_strength, "seed": args.seed,
        "gray_input": "cv2.cvtColor(original, COLOR_BGR2GRAY), 1 channel",
        "runtime_options_given": options,
        "runtime": {"stride": colorizer.stride, "size": colorizer.size, "blend": colorizer.blend,
                    "saturation": colorizer.saturation, "precision": colorizer.precision, "mirror": colorizer.mirror,
                    "provider": colorizer.session.get_providers()[0], "threads": args.threads},
    }


class SkipPhoto(Exception):
    """A photo that cannot be scored; the message says why."""


def read_truth(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A colour photo to score against: BGR uint8, its Lab (the colour contract) and the gray input made from it.
    Raises SkipPhoto for a file that cannot be decoded or has no colour to compare against."""
    truth = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if truth is None:
        raise SkipPhoto("cannot be decoded")
    truth_lab = colour.bgr_to_lab(truth)
    if mean_chroma(truth_lab) < MIN_TRUTH_CHROMA:
        raise SkipPhoto("no colour to compare against (a gray photo)")
    return truth, truth_lab, cv2.cvtColor(truth, cv2.COLOR_BGR2GRAY)


def photo_rng(path: Path, data: Path, seed: int, purpose: str) -> np.random.Generator:
    """A generator seeded by the photo's name under data, the seed and what it is for: the same draws on every run."""
    digest = hashlib.sha256(f"{path.relative_to(data).as_posix()}|{seed}|{purpose}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def simulated_hints(colorizer: Colorizer, truth: np.ndarray, gray: np.ndarray, count: int,
                    rng: np.random.Generator) -> list[guided.Hint]:
    """count points spread at random over the photo, each pinned with the true mean ab of the pin's patch
    (guided.PIN_SIZE square) at the working resolution: what a user who knows the colours would click."""
    height, width = gray.shape
    working = colorizer.working_lightness(gray).shape
    small = truth if working == (height, width) else cv2.resize(truth, working[::-1], interpolation=cv2.INTER_AREA)
    small_ab = colour.bgr_to_lab(small)[..., 1:]
    hints, half = [], guided.PIN_SIZE // 2
    for x, y in zip(rng.integers(0, width, count), rng.integers(0, height, count)):
        column, row = guided.to_working(float(x), float(y), (height, width), working)
        patch = small_ab[max(0, row - half):row + half + 1, max(0, column - half):column + half + 1]
        a, b = patch.reshape(-1, 2).mean(axis=0)
        hints.append(guided.Hint(float(x), float(y), f"ab({a:.1f},{b:.1f})", (float(a), float(b))))
    return hints


PERSON_CHROMA = 20.0  # a region a person clicks: one strong colour (chroma above this) in one 45-degree hue sector
PERSON_SECTORS = 8


def person_clicks(truth: np.ndarray, count: int) -> list[guided.Hint]:
    """count clicks where a person clicks: found at 1/4 size, the truth's pixels of chroma > PERSON_CHROMA in one of
    PERSON_SECTORS hue sectors, opened by a 3 x 3 square, split into connected regions; one click at the most
    interior point (distance transform) of each of the count largest regions, pinned with the truth's 3 x 3 mean
    ab there. Fewer when the photo has fewer such regions. Coordinates are the full-size photo's."""
    height, width = truth.shape[:2]
    small = cv2.resize(truth, (max(1, width // 4), max(1, height // 4)), interpolation=cv2.INTER_AREA)
    ab = colour.bgr_to_lab(small)[..., 1:]
    chroma = np.hypot(ab[..., 0], ab[..., 1])
    sector = (np.floor(np.degrees(np.arctan2(ab[..., 1], ab[..., 0])) % 360 / (360 / PERSON_SECTORS))).astype(int)
    mean_ab = cv2.blur(ab, (3, 3), borderType=cv2.BORDER_REFLECT)
    regions = []
    for index in range(PERSON_SECTORS):
        mask = cv2.morphologyEx(((chroma > PERSON_CHROMA) & (sector == index)).astype(np.uint8), cv2.MORPH_OPEN,
                                np.ones((3, 3), np.uint8))
        labels_count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for label in range(1, labels_count):
            regions.append((int(stats[label, cv2.CC_STAT_AREA]), index, label, labels))
    clicks = []
    for _area, _index, label, labels in sorted(regions, key=lambda r: (-r[0], r[1], r[2]))[:count]:
        region = np.pad((labels == label).astype(np.uint8), 1)  # the border counts as outside
        inside = cv2.distanceTransform(region, cv2.DIST_L2, 5)[1:-1, 1:-1]
        row, column = np.unravel_index(int(np.argmax(inside)), inside.shape)
        a, b = (float(v) for v in mean_ab[row, column])
        x = min(width - 1, int((column + 0.5) * width / small.shape[1]))
        y = min(height - 1, int((row + 0.5) * height / small.shape[0]))
        clicks.append(guided.Hint(float(x), float(y), f"ab({a:.1f},{b:.1f})", (a, b)))
    return clicks


SUGGESTION_POINTS, SUGGESTION_CHROMA, SUGGESTION_RADIUS, SUGGESTIONS_SCORED = 2, 20.0, 15.0, 5


def score_suggestions(colorizer: Colorizer, gray: np.ndarray, truth_lab: np.ndarray, rng: np.random.Generator
                      ) -> list[dict]:
    """At SUGGESTION_POINTS seeded points where the truth's chroma is above SUGGESTION_CHROMA: how many colours
    the guided model suggests, and whether the truth is within SUGGESTION_RADIUS ab units of one of the first
    SUGGESTIONS_SCORED."""
    rows, columns = np.nonzero(np.hypot(truth_lab[..., 1], truth_lab[..., 2]) > SUGGESTION_CHROMA)
    scored = []
    for index in rng.integers(0, len(rows), SUGGESTION_POINTS) if len(rows) else []:
        row, column = int(rows[index]), int(columns[index])
        suggestions = colorizer.suggest(gray, column, row)
        distances = [float(np.hypot(*(np.array(s.ab) - truth_lab[row, column, 1:]))) for s in suggestions]
        scored.append({"x": column, "y": row, "count": len(suggestions),
                       "hit": any(d <= SUGGESTION_RADIUS for d in distances[:SUGGESTIONS_SCORED])})
    return scored


def folder_reference(path: Path, data: Path, all_paths: list[Path], seed: int) -> Path | None:
    """Another photo of the same source folder, chosen by a seeded rule (None when the folder has no other)."""
    others = [p for p in all_paths if p != path and source_folder(p, data) == source_folder(path, data)]
    return others[int(photo_rng(path, data, seed, "reference").integers(len(others)))] if others else None


def evaluate_photo(colorizer: Colorizer, path: Path, data: Path, guidance: dict | None = None
                   ) -> tuple[dict, dict, list[np.ndarray]]:
    """Score one photo: its record (ours and the gray floor against the truth), its error counts (ours, floor)
    for the rebalanced AuC, and its BGR gray | ours | truth. guidance: {"hints": N, "reference": "own"|"folder"
    |None, "seed": S, "all_paths": the folder's photos} for the guided model. Raises SkipPhoto (read_truth)."""
    truth, truth_lab, gray = read_truth(path)
    guidance = guidance or {}
    hints, reference = [], None
    if guidance.get("hints"):
        hints = simulated_hints(colorizer, truth, gray, guidance["hints"],
                                photo_rng(path, data, guidance["seed"], f"hints{guidance['hints']}"))
    elif guidance.get("clicks"):
        hints = person_clicks(truth, guidance["clicks"])
    if guidance.get("reference") == "own":
        reference = colorizer.reference(truth)
    elif guidance.get("reference") == "folder":
        other = folder_reference(path, data, guidance["all_paths"], guidance["seed"])
        if other is None:
            raise SkipPhoto("no other photo in its folder to use as a reference")
        reference = colorizer.reference(other)
    tick = time.perf_counter()
    ours = colorizer.colorize(gray, hints=hints or None, reference=reference,
                              reference_strength=guidance.get("reference_strength", 1.0))
    seconds = time.perf_counter() - tick
    gray_bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    (ours_scores, ours_counts), (floor_scores, floor_counts) = (score(x, truth, truth_lab) for x in (ours, gray_bgr))
    record = {
        "photo": path.relative_to(data).as_posix(), "folder": source_folder(path, data),
        "height": truth.shape[0], "width": truth.shape[1], "seconds": round(seconds, 3),
        "ours": ours_scores, "floor": floor_scores,
        "truth": {"colourfulness": colourfulness(truth), "chroma": mean_chroma(truth_lab)},
    }
    if hints or reference is not None:  # the gain over the automatic colours, what the guidance brought
        automatic = colorizer.colorize(gray)
        record["gain_over_automatic_db"] = ours_scores["psnr"] - float(
            peak_signal_noise_ratio(truth, automatic, data_range=255))
        record["hint_count"] = len(hints)
    if guidance.get("suggestions"):
        record["suggestions"] = score_suggestions(colorizer, gray, truth_lab,
                                                  photo_rng(path, data, guidance["seed"], "suggestions"))
    if hints:
        ours_lab = colour.bgr_to_lab(ours)
        record["hint_ab_errors"] = [round(float(np.hypot(*(ours_lab[int(h.y), int(h.x), 1:] - h.ab))), 2)
                                    for h in hints]
    return record, {"ours": ours_counts, "floor": floor_counts}, [gray_bgr, ours, truth]


def evaluate_set(colorizer: Colorizer, data: Path, paths: list[Path], out: Path, suffix: str,
                 config: dict, guidance: dict | None = None) -> int:
    """Evaluate the photos of one --data folder into OUT/evaluation{suffix}.json and its grid; print the table."""
    records, counts, skipped, grid_rows = [], [], [], {}  # grid: the first photo scored in every source folder
    start = time.perf_counter()
    for path in tqdm(paths, unit="photo"):
        try:
            record, photo_counts, panels = evaluate_photo(colorizer, path, data, guidance)
        except SkipPhoto as reason:
            print(f"warning: {path}: {reason}, skipped", file=sys.stderr)
            skipped.append(str(path))
            continue
        records.append(record)
        counts.append(photo_counts)
        grid_rows.setdefault(record["folder"], (record["photo"], [thumbnail(panel) for panel in panels]))
    if not records:
        print(f"evaluate: {data}: no photo could be scored", file=sys.stderr)
        return 2
    add_rebalanced_auc(records, counts)
    per_folder = {f: mean_scores([r for r in records if r["folder"] == f]) for f in sorted(grid_rows)}
    report = {
        "config": config | {
            "data": str(data), "photos": len(records), "skipped": skipped,
            "seconds_total": round(time.perf_counter() - start, 1),
            "seconds_colourising": round(sum(r["seconds"] for r in records), 1)},
        "overall": mean_scores(records),
        "per_folder": per_folder,
        "worst_garish": [{"photo": r["photo"], "garish": r["ours"]["garish"]} for r in
                         sorted(records, key=lambda r: -r["ours"]["garish"])[:WORST_LISTED]],
        "per_photo": records,
    }
    hint_errors = [error for r in records for error in r.get("hint_ab_errors", [])]
    if hint_errors:
        report["overall"]["hint_ab_error_median"] = float(np.median(hint_errors))
    gains = np.array([r["gain_over_automatic_db"] for r in records if "gain_over_automatic_db" in r])
    if len(gains):
        report["overall"]["gain_over_automatic_db"] = float(gains.mean())
        report["overall"]["share_losing_over_half_db"] = float((gains < -0.5).mean())
    points = [point for r in records for point in r.get("suggestions", [])]
    if points:
        report["overall"]["suggestion_hits"] = float(np.mean([p["hit"] for p in points]))
        report["overall"]["suggestions_per_point"] = float(np.mean([p["count"] for p in points]))
    out.mkdir(parents=True, exist_ok=True)
    json_path, grid_path = out / f"evaluation{suffix}.json", out / f"evaluation_grid{suffix}.png"
    json_path.write_text(json.dumps(report, indent=1) + "\n")
    write_grid([grid_rows[folder] for folder in sorted(grid_rows)], grid_path)
    print(f"{data}:")
    print(format_table({"overall": report["overall"]} | per_folder))
    print("most garish: " + ", ".join(f"{w['photo']} {w['garish']:.1f} %" for w in report["worst_garish"]))
    if hint_errors:
        print(f"ab distance output - hint at the {len(hint_errors)} hint points: median "
              f"{report['overall']['hint_ab_error_median']:.2f}")
    if len(gains):
        print(f"over the automatic colours: {gains.mean():+.2f} dB a photo; {100 * (gains < -0.5).mean():.1f} % of "
              f"the {len(gains)} photos lose more than 0.5 dB")
    if points:
        print(f"suggestions: {report['overall']['suggestions_per_point']:.2f} a point; the truth within "
              f"{SUGGESTION_RADIUS:g} ab units of one of the first {SUGGESTIONS_SCORED} at "
              f"{100 * report['overall']['suggestion_hits']:.1f} % of {len(points)} points")
    print(f"{len(records)} photos in {report['config']['seconds_total']} s "
          f"({report['config']['seconds_colourising']} s colourising); wrote {json_path} and {grid_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.limit is not None and args.limit < 1:
        print("evaluate: --limit must be 1 or more", file=sys.stderr)
        return 2
    cv2.setNumThreads(args.threads)
    options = {name: getattr(args, name) for name in RUNTIME_OPTIONS if name in args}
    try:
        colorizer = Colorizer(args.model, threads=args.threads, **options)
        photo_sets = [(data, find_photos(data)) for data in args.data]
    except (ColorizeError, FileNotFoundError) as error:
        print(f"evaluate: {error}", file=sys.stderr)
        return 2
    config = run_config(args, colorizer, options)
    if args.hints < 0:
        print("evaluate: --hints must be 0 or more", file=sys.stderr)
        return 2
    if (args.hints or args.clicks or args.reference or args.suggestions) and not colorizer.guided:
        print(f"evaluate: {colorizer.model_path.name} takes no hints or reference: use the guided model "
              "(--model models/colorize_guided.onnx)", file=sys.stderr)
        return 2
    for data, all_paths in photo_sets:
        suffix = f"_{data.resolve().name}" if len(photo_sets) > 1 else ""
        guidance = {"hints": args.hints, "clicks": args.clicks, "reference": args.reference,
                    "reference_strength": args.reference_strength, "suggestions": args.suggestions,
                    "seed": args.seed, "all_paths": all_paths}
        code = evaluate_set(colorizer, data, evenly_spaced(all_paths, args.limit), args.out, suffix, config,
                            guidance)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
