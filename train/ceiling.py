"""Yardsticks for the colour measures: python -m train.ceiling --data DIR [DIR ...] [--limit N] [--json FILE].

Scores, exactly as train.evaluate and train.sweep score a model (read_truth, score, the rebalanced AuC over the
folder's photos), colourisers that peek at the truth instead of guessing:

- "gray input": no colour at all (the floor every model is measured against);
- "photo's mean colour": every pixel gets the true photo's mean ab: the right overall tint, no local colour;
- "truth at working size": the true ab scaled down to the runtime's working resolution (short side --size,
  INTER_AREA) and scaled back up by the runtime's recolour: a perfect network, limited only by resolution.

They say what a number such as "+2 rebalanced AuC points over the regression model" asks of a network: the
photo's-mean-colour row is what knowing each photo's true average colour, and nothing else, would give.
With --models, each model (a shipped name or an ONNX file, through the runtime at its defaults) is scored as it
is and with its output's mean ab moved to the photo's true mean ab (its local colours kept): how much of what
the model misses is the photo's overall colour, which the gray photo often does not tell.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from colorize_runtime import Colorizer, colour
from colorize_runtime.colorizer import DEFAULT_SIZE
from train.data import find_photos
from train.evaluate import evenly_spaced
from train.sweep import score_variants

REFERENCES = ("gray input", "photo's mean colour", "truth at working size")


def reference_colours(truth_lab: np.ndarray, true_mean: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Each reference's ab (h, w, 2) in CIELAB units, at any size up to the photo's (recolour scales it up);
    true_mean: the photo's mean ab."""
    ab = np.ascontiguousarray(truth_lab[..., 1:])
    height, width = ab.shape[:2]
    scale = min(1.0, size / min(height, width))
    working = cv2.resize(ab, (max(1, round(width * scale)), max(1, round(height * scale))),
                         interpolation=cv2.INTER_AREA)
    return {"gray input": np.zeros((1, 1, 2), np.float32),
            "photo's mean colour": true_mean.reshape(1, 1, 2).astype(np.float32),
            "truth at working size": working}


def model_colours(name: str, colorizer: Colorizer, gray: np.ndarray, true_mean: np.ndarray
                  ) -> dict[str, np.ndarray]:
    """A model's ab at the working resolution, as it is and with its mean moved to the photo's mean ab."""
    ab = colorizer.predict_colour(gray)
    shift = true_mean - ab.reshape(-1, 2).mean(axis=0)
    return {name: ab, f"{name}, true mean colour": (ab + shift).astype(np.float32)}


def measure(data: Path, paths: list[Path], size: int, models: dict[str, Colorizer] | None = None
            ) -> dict[str, dict]:
    """Every reference's (and model's) goals' numbers (train.sweep.summarise) over the photos."""
    def colourings(gray: np.ndarray, truth_lab: np.ndarray):
        true_mean = truth_lab[..., 1:].reshape(-1, 2).mean(axis=0)
        colours = reference_colours(truth_lab, true_mean, size)
        for name, colorizer in (models or {}).items():
            colours |= model_colours(name, colorizer, gray, true_mean)
        for name, ab in colours.items():
            yield name, colour.recolour(gray, ab)

    return score_variants(data, paths, colourings)


def format_rows(results: dict[str, dict]) -> str:
    width = max(24, *(len(name) + 1 for name in results))
    lines = [f"{'reference':{width}} photos  PSNR-gray  chroma  CF/true    AuC  AuC-rb", "-" * (width + 46)]
    lines += [f"{name:{width}} {r['photos']:6d} {r['psnr_gain_db']:+10.2f} {r['chroma_ratio']:7.3f} "
              f"{r['colourfulness_ratio']:8.3f} {r['auc']:6.2f} {r['rebalanced_auc']:7.2f}"
              for name, r in results.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.ceiling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, nargs="+", help="folder trees of colour photos")
    parser.add_argument("--limit", type=int, default=None, help="N photos of each folder, spread evenly")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="the working resolution (runtime's --size)")
    parser.add_argument("--models", nargs="*", default=[],
                        help="shipped model names or ONNX files to score as they are and with the true mean colour")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads for --models (default: 2)")
    parser.add_argument("--json", type=Path, default=None, help="also write every row here")
    args = parser.parse_args(argv)
    models = {name: Colorizer(model=name, threads=args.threads, size=args.size) for name in args.models}
    results = {}
    for data in args.data:
        paths = evenly_spaced(find_photos(data), args.limit)
        results[str(data)] = measure(data, paths, args.size, models)
        print(f"{data}:\n{format_rows(results[str(data)])}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
