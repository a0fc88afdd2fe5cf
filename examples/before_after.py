"""Make the README's picture: gray input | colorize output | original, side by side, with the shipped model.

python examples/before_after.py [PHOTO] [-o docs/before_after.jpg]   (needs only the runtime installed)
"""
import argparse
from pathlib import Path

import cv2

from colorize_runtime import Colorizer

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("photo", type=Path, nargs="?", default=HERE / "sample.jpg")
    parser.add_argument("-o", "--output", type=Path, default=HERE.parent / "docs" / "before_after.jpg")
    args = parser.parse_args()
    original = cv2.imread(str(args.photo), cv2.IMREAD_COLOR)
    gray = cv2.cvtColor(original, cv2.COLOR_BGR2GRAY)
    panels = [cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), Colorizer().colorize(gray), original]
    cv2.imwrite(str(args.output), cv2.hconcat(panels), [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
