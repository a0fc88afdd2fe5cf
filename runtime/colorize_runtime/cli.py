"""colorize-run: colourise photo files. Exit code 0 when every file succeeded, 1 when any failed, 2 for usage."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PROG = "colorize-run"


def build_parser() -> argparse.ArgumentParser:
    from colorize_runtime import __version__

    parser = argparse.ArgumentParser(prog=PROG, description="Colourise black-and-white photos.")
    parser.add_argument("inputs", nargs="+", metavar="PHOTO", help="photo files to colourise")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="output file (one input only); default: NAME_color.EXT beside the input")
    parser.add_argument("--model", metavar="PATH", default=os.environ.get("COLORIZE_MODEL"),
                        help="ONNX model (default: $COLORIZE_MODEL, else the model shipped with the package)")
    parser.add_argument("--providers", choices=["auto", "cpu", "cuda"], default="auto",
                        help="onnxruntime execution provider (cuda fails loudly when unavailable)")
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads for the network")
    parser.add_argument("--stride", type=int, default=None, metavar="PX", help="window step (default: 128)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def output_path(source: Path) -> Path:
    return source.with_name(f"{source.stem}_color{source.suffix}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.output and len(args.inputs) > 1:
        print(f"{PROG}: -o takes one input, {len(args.inputs)} given", file=sys.stderr)
        return 2
    import cv2  # imported here so that --version and --help start fast
    from colorize_runtime.colorizer import Colorizer, ColorizeError

    try:
        colorizer = Colorizer(args.model, providers=args.providers, threads=args.threads, stride=args.stride)
    except ColorizeError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    failures = 0
    for name in args.inputs:
        source = Path(name)
        target = Path(args.output) if args.output else output_path(source)
        try:
            if target.exists() and target.resolve() == source.resolve():
                raise ColorizeError("output would overwrite the input")
            image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED) if source.is_file() else None
            if image is None:
                raise ColorizeError("not a readable image" if source.exists() else "no such file")
            if image.ndim == 3 and image.shape[2] == 4:
                image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
            if image.dtype != "uint8":
                image = (image / 257).round().astype("uint8")
            result = colorizer.colorize(image)
            tmp = target.with_name(f".{target.name}.tmp{target.suffix}")
            if not cv2.imwrite(str(tmp), result):
                raise ColorizeError(f"cannot write {target}")
            os.replace(tmp, target)
            print(f"{source} -> {target}")
        except (ColorizeError, OSError, cv2.error) as error:
            failures += 1
            print(f"{PROG}: {source}: {error}", file=sys.stderr)
    if failures:
        print(f"{PROG}: {failures} of {len(args.inputs)} files failed", file=sys.stderr)
    return 1 if failures else 0
