"""A grid of guided colour on real photos: gray | automatic | 3 person clicks | its own colours as reference | original.

python -m train.guided_grid --data ../shared/data/photos/val-foreign --out models/guided_grid_val-foreign.png

One photo per source folder (the first, as train.evaluate's grid), through the runtime's guided model at its
defaults; the clicks are where a person clicks (train.evaluate.person_clicks: the centres of the largest regions of
one strong colour, pinned with the truth there), drawn as rings of their colour on the clicks panel.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from colorize_runtime import Colorizer
from train.data import find_photos
from train.evaluate import SkipPhoto, person_clicks, read_truth, source_folder, thumbnail, write_grid

TITLES = ("gray input", "automatic", "3 person clicks", "its own colours as reference", "original")


def mark_hints(image: np.ndarray, hints) -> np.ndarray:
    """Dots of each hint's colour (drawn at lightness 60) in a white and a black ring at the hint points."""
    marked = image.copy()
    radius = max(4, round(min(image.shape[:2]) / 40))
    for hint in hints:
        centre = (int(hint.x), int(hint.y))
        colour = cv2.cvtColor(np.array([[[60.0, *hint.ab]]], np.float32), cv2.COLOR_Lab2BGR)[0, 0]
        cv2.circle(marked, centre, radius + 2, (0, 0, 0), 2, cv2.LINE_AA)
        cv2.circle(marked, centre, radius, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.circle(marked, centre, radius - 2, tuple(float(c) * 255 for c in colour), -1, cv2.LINE_AA)
    return marked


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m train.guided_grid", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default="guided")
    parser.add_argument("--clicks", type=int, default=3)
    parser.add_argument("--per-folder", type=int, default=1, help="photos of each source folder")
    args = parser.parse_args(argv)
    colorizer = Colorizer(args.model, threads=2)
    paths = find_photos(args.data)
    rows, taken = [], {}
    for path in paths:
        folder = source_folder(path, args.data)
        if taken.get(folder, 0) >= args.per_folder:
            continue
        try:
            truth, _, gray = read_truth(path)
        except SkipPhoto:
            continue
        taken[folder] = taken.get(folder, 0) + 1
        clicks = person_clicks(truth, args.clicks)
        panels = [cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), colorizer.colorize(gray),
                  mark_hints(colorizer.colorize(gray, hints=clicks or None), clicks),
                  colorizer.colorize(gray, reference=truth), truth]
        rows.append((path.relative_to(args.data).as_posix(), [thumbnail(p) for p in panels]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_grid(rows, args.out, TITLES)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
