"""Make the README's picture: the default model's automatic colour | the guided model after three clicks (marked) |
original.

python examples/before_after.py [PHOTO] [-o docs/before_after.jpg]   (needs only the runtime installed)

The clicks are CLICKS below, where a person clicks (for the bundled sample: the sky, a petal and a leaf, one click
on each thing whose colour matters, in colours a person would pick, not read off the original); the middle panel is
`colorize-run --hint X,Y,COLOR ...` with them.
"""
import argparse
from pathlib import Path

import cv2
import numpy as np

from colorize_runtime import Colorizer

HERE = Path(__file__).resolve().parent
CLICKS = [(418, 78, "#5b8def"), (278, 118, "#f5b800"), (122, 278, "#4e9a32")]  # x, y, colour


def mark(image: np.ndarray, clicks) -> np.ndarray:
    """Each click as a dot of its colour in a white and a black ring."""
    marked = image.copy()
    for x, y, colour in clicks:
        red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
        cv2.circle(marked, (x, y), 11, (0, 0, 0), 2, cv2.LINE_AA)
        cv2.circle(marked, (x, y), 9, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.circle(marked, (x, y), 7, (blue, green, red), -1, cv2.LINE_AA)
    return marked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photo", type=Path, nargs="?", default=HERE / "sample.jpg")
    parser.add_argument("-o", "--output", type=Path, default=HERE.parent / "docs" / "before_after.jpg")
    args = parser.parse_args()
    original = cv2.imread(str(args.photo), cv2.IMREAD_COLOR)
    gray = cv2.cvtColor(original, cv2.COLOR_BGR2GRAY)
    guided = Colorizer("guided")
    panels = [Colorizer().colorize(gray), mark(guided.colorize(gray, hints=CLICKS), CLICKS), original]
    cv2.imwrite(str(args.output), cv2.hconcat(panels), [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
