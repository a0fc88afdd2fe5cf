"""Yardsticks for the colour measures: python -m train.ceiling --data DIR [DIR ...] [--limit N] [--json FILE].

Scores, exactly as train.evaluate and train.sweep score a model (read_truth, score, the rebalanced AuC over the
folder's photos), colourisers that peek at the truth instead of guessing:

- "gray input": no colour at all (the floor every model is measured against);
- "photo's mean colour": every pixel gets the true photo's mean ab: the right overall tint, no local colour;
- "truth at working size": the true ab scaled down to the runtime's working resolution (short side --size,
  INTER_AREA) and scaled back up by the runtime's recolour: a perfect network, limited only by resolution.

They say what a number such as "+2 rebalanced AuC points over the regression model" asks of a network: the
photo's-mean-colour row is what knowing each photo's true average colour, and nothing else, would give.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from colorize_runtime import colour
from colorize_runtime.colorizer import DEFAULT_SIZE
from train.data import find_photos
from train.evaluate import SkipPhoto, colourfulness, evenly_spaced, mean_chroma, read_truth, score, source_folder
from train.sweep import summarise

REFERENCES = ("gray input", "photo's mean colour", "truth at working size")


def reference_colours(truth_lab: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Each reference's ab (h, w, 2) in CIELAB units, at any size up to the photo's (recolour scales it up)."""
    ab = np.ascontiguousarray(truth_lab[..., 1:])
    height, width = ab.shape[:2]
    scale = min(1.0, size / min(height, width))
    working = cv2.resize(ab, (max(1, round(width * scale)), max(1, round(height * scale))),
                         interpolation=cv2.INTER_AREA)
    return {"gray input": np.zeros((1, 1, 2), np.float32),
            "photo's mean colour": ab.reshape(-1, 2).mean(axis=0).reshape(1, 1, 2).astype(np.float32),
            "truth at working size": working}


def measure(data: Path, paths: list[Path], size: int) -> dict[str, dict]:
    """Every reference's goals' numbers (train.sweep.summarise) over the photos."""
    records: dict[str, list] = {name: [] for name in REFERENCES}
    counts: dict[str, list] = {name: [] for name in REFERENCES}
    for path in tqdm(paths, unit="photo", desc=data.name):
        try:
            truth, truth_lab, gray = read_truth(path)
        except SkipPhoto as reason:
            print(f"warning: {path}: {reason}, skipped", file=sys.stderr)
            continue
        floor, floor_counts = score(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), truth, truth_lab, ssim=False)
        truth_scores = {"colourfulness": colourfulness(truth), "chroma": mean_chroma(truth_lab)}
        for name, ab in reference_colours(truth_lab, size).items():
            ours, ours_counts = score(colour.recolour(gray, ab), truth, truth_lab, ssim=False)
            records[name].append({"folder": source_folder(path, data), "ours": ours, "floor": dict(floor),
                                  "truth": truth_scores})
            counts[name].append({"ours": ours_counts, "floor": floor_counts})
    return {name: summarise(records[name], counts[name]) for name in REFERENCES}


def format_rows(results: dict[str, dict]) -> str:
    lines = [f"{'reference':24} photos  PSNR-gray  chroma  CF/true    AuC  AuC-rb", "-" * 70]
    lines += [f"{name:24} {r['photos']:6d} {r['psnr_gain_db']:+10.2f} {r['chroma_ratio']:7.3f} "
              f"{r['colourfulness_ratio']:8.3f} {r['auc']:6.2f} {r['rebalanced_auc']:7.2f}"
              for name, r in results.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.ceiling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, nargs="+", help="folder trees of colour photos")
    parser.add_argument("--limit", type=int, default=None, help="N photos of each folder, spread evenly")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="the working resolution (runtime's --size)")
    parser.add_argument("--json", type=Path, default=None, help="also write every row here")
    args = parser.parse_args(argv)
    results = {}
    for data in args.data:
        results[str(data)] = measure(data, evenly_spaced(find_photos(data), args.limit), args.size)
        print(f"{data}:\n{format_rows(results[str(data)])}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
