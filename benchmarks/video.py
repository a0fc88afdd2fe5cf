"""python -m benchmarks.video [--photos DIR] [--write-doc]: video speed and steadiness, two tables.

Clips are generated from colour photos (default: ../shared/data/photos/val-original), turned gray and encoded
as H.264 with PyAV, then colourised with Colorizer.colorize_video in the default mode (the shipped model,
decode, network at the working resolution, temporal smoothing, recolour, H.264 encode):

* **speed**: frames per second at 480p (854x480) and 1080p (1920x1080), a photo scaled up and panned, with
  grain, 25 fps; the default mode (the network on every fourth frame), the network on every frame, and the
  regression model at --precision int8.
* **flicker**: the mean absolute change of ab (CIELAB, from the decoded output frames) between consecutive
  frames, on a static scene with grain (the photo still, fresh grain each frame) and on a slow pan (one pixel a
  frame), at each smoothing strength, with each frame alone (no smoothing, the network on
  every frame), and the default strength at other network intervals, next to the same
  measure of the original colour frames.
* **colour PSNR** of the output frames against the original colour frames (RGB, per frame, then averaged) on
  the pan, and of the gray frames (the floor).

--write-doc puts the tables into docs/PERFORMANCE.md (between <!-- video-speed --> and <!-- video-steadiness -->
markers: --skip-speed and --skip-steadiness leave the other one as it is). Other load on the
machine lowers the frame rates (the load average is printed with them); flicker and PSNR do not depend on it.
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from colorize_runtime import Colorizer
from colorize_runtime.video import DEFAULT_CRF, DEFAULT_NETWORK_INTERVAL, DEFAULT_TEMPORAL_SMOOTHING, ENCODER_PRESET

REPOSITORY = Path(__file__).resolve().parent.parent
DOC = REPOSITORY / "docs" / "PERFORMANCE.md"
DEFAULT_PHOTOS = REPOSITORY.parent / "shared" / "data" / "photos" / "val-original"
SPEED_SIZES = {"480p": (854, 480), "1080p": (1920, 1080)}
SPEED_FRAMES, RATE, GRAIN = 75, 25, 6.0
SCENE_SIZE, SCENE_FRAMES, SCENE_PHOTOS = (400, 224), 30, 4  # pan: 1 px a frame across the photo
COARSE_SIDE = 40  # px: the frames scaled down for the second flicker measure (about 5 x 5 pixel blocks)
STRENGTHS = (0.0, 0.5, 0.8, 0.9, 0.99)  # 0.99: the colour all but frozen, the floor the output format sets
# (smoothing strength, network interval) measured for steadiness: each frame alone (the network on every frame,
# no smoothing), the strengths at the default interval, and the default strength at other intervals
SETTINGS = [(0.0, 1)] + [(strength, DEFAULT_NETWORK_INTERVAL) for strength in STRENGTHS] + [
    (DEFAULT_TEMPORAL_SMOOTHING, interval) for interval in (1, 2, 8) if interval != DEFAULT_NETWORK_INTERVAL]


def landscape_photos(folder: Path, count: int) -> list[Path]:
    """count landscape colour photos wide enough for the pan, one from each category folder in turn."""
    chosen: list[Path] = []
    categories = [sorted(d.glob("*.jpg")) for d in sorted(folder.iterdir()) if d.is_dir()]
    for rank in range(max(map(len, categories))):
        for photos in categories:
            if rank < len(photos) and len(chosen) < count:
                image = cv2.imread(str(photos[rank]))
                if image is not None and image.shape[1] >= SCENE_SIZE[0] + SCENE_FRAMES and \
                        image.shape[0] >= SCENE_SIZE[1] and image.shape[1] > image.shape[0]:
                    chosen.append(photos[rank])
    return chosen


def write_clip(av, path: Path, frames, rate: int = RATE, options: dict | None = None) -> Path:
    """Gray or BGR frames as an H.264 clip, no audio (default options: near-transparent quality)."""
    with av.open(str(path), "w") as output:
        video = output.add_stream("libx264", rate=rate)
        video.pix_fmt, video.options = "yuv420p", options or {"crf": "18", "preset": "veryfast"}
        for index, frame in enumerate(frames):
            if index == 0:
                video.height, video.width = frame.shape[:2]
            pixels = "gray" if frame.ndim == 2 else "bgr24"
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format=pixels)):
                output.mux(packet)
        for packet in video.encode():
            output.mux(packet)
    return path


def grainy(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Luminance grain: the same noise on every channel."""
    noise = rng.normal(0, GRAIN, frame.shape[:2]).astype(np.float32)
    noise = noise[..., None] if frame.ndim == 3 else noise
    return np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def static_scene(photo: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    width, height = SCENE_SIZE
    return [grainy(photo[:height, :width], rng) for _ in range(SCENE_FRAMES)]


def slow_pan(photo: np.ndarray) -> list[np.ndarray]:
    width, height = SCENE_SIZE
    return [np.ascontiguousarray(photo[:height, index:index + width]) for index in range(SCENE_FRAMES)]


def decoded(av, path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def ab_flicker(frames: list[np.ndarray], short_side: int | None = None) -> float:
    """Mean absolute change of CIELAB a, b between consecutive frames, at their own size or scaled down (area
    averaging) to short_side. At full size, grain alone changes ab: a pixel's a, b computed back from 8-bit
    RGB (and from a codec's 4:2:0 chroma) move with its lightness, even for the source's true colours and for a
    colour that does not change at all. Averaged over blocks the grain cancels, so what is left is the colour."""
    previous, total = None, 0.0
    for frame in frames:
        if short_side:
            scale = short_side / min(frame.shape[:2])
            frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        ab = cv2.cvtColor(frame.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_BGR2Lab)[..., 1:]
        if previous is not None:
            total += float(np.abs(ab - previous).mean())
        previous = ab
    return total / (len(frames) - 1)


def colour_psnr(frames: list[np.ndarray], originals: list[np.ndarray]) -> float:
    return float(np.mean([cv2.PSNR(f, o) for f, o in zip(frames, originals)]))


def speed(av, colorizer: Colorizer, photo: np.ndarray, scratch: Path, **video_options) -> dict:
    rows = {}
    rng = np.random.default_rng(0)
    for name, (width, height) in SPEED_SIZES.items():
        scale = max((width + SPEED_FRAMES * 2) / photo.shape[1], height / photo.shape[0])
        big = cv2.cvtColor(cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC),
                           cv2.COLOR_BGR2GRAY)
        frames = (grainy(big[:height, 2 * i:2 * i + width], rng) for i in range(SPEED_FRAMES))
        clip = write_clip(av, scratch / f"speed_{name}.mp4", frames)
        load = os.getloadavg()[0]
        result = colorizer.colorize_video(clip, scratch / f"speed_{name}_color.mp4", force=True, **video_options)
        rows[name] = {"fps": result.fps, "frames": result.frames, "load_average": load}
    return rows


def steadiness(av, colorizer: Colorizer, photos: list[Path], scratch: Path) -> dict:
    """Flicker per scene and strength (and of the originals), colour PSNR on the pan, averaged over photos."""
    sums: dict = {}

    def add(key, value):
        sums.setdefault(key, []).append(value)

    for number, path in enumerate(photos):
        photo = cv2.imread(str(path))
        for scene, originals in (("static", static_scene(photo, number)), ("pan", slow_pan(photo))):
            clip = write_clip(av, scratch / f"{scene}{number}.mp4",
                              (cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in originals))
            add((scene, "original"), ab_flicker(originals))
            add((scene, "original", "small"), ab_flicker(originals, COARSE_SIDE))
            # the true colours through the output's own encoding: the flicker that grain and the codec give
            encoded = decoded(av, write_clip(av, scratch / f"{scene}{number}_true.mp4", originals,
                                             options={"crf": str(DEFAULT_CRF), "preset": ENCODER_PRESET}))
            add((scene, "encoded"), ab_flicker(encoded))
            add((scene, "encoded", "small"), ab_flicker(encoded, COARSE_SIDE))
            if scene == "pan":
                add((scene, "gray psnr"), colour_psnr(decoded(av, clip), originals))
            for setting in SETTINGS:
                strength, interval = setting
                target = scratch / f"{scene}{number}_{strength}_{interval}.mp4"
                colorizer.colorize_video(clip, target, force=True, temporal_smoothing=strength,
                                         network_interval=interval)
                frames = decoded(av, target)
                add((scene, setting), ab_flicker(frames))
                add((scene, setting, "small"), ab_flicker(frames, COARSE_SIDE))
                if scene == "pan":
                    add((scene, "psnr", setting), colour_psnr(frames, originals))
    return {key: float(np.mean(values)) for key, values in sums.items()}


def speed_table(fps: dict) -> str:
    lines = ["| speed, H.264 → H.264 | frames/s | load average at start |", "|---|---:|---:|"]
    lines += [f"| {name} | {row['fps']:.1f} | {row['load_average']:.2f} |" for name, row in fps.items()]
    return "\n".join(lines)


def steadiness_table(steady: dict, photos: int) -> str:
    lines = [f"Flicker (mean \\|Δab\\| between consecutive frames, of the frames themselves and of the frames "
             f"scaled down to {COARSE_SIDE} px short side) and colour PSNR on the pan; mean of {photos} photos, "
             f"{SCENE_SIZE[0]}×{SCENE_SIZE[1]}, {SCENE_FRAMES} frames, grain σ = {GRAIN:g} gray levels:", "",
             f"| temporal smoothing, network interval | static, grain: flicker | at {COARSE_SIDE} px | slow pan: flicker "
             f"| at {COARSE_SIDE} px | slow pan: colour PSNR dB |", "|---|---:|---:|---:|---:|---:|"]

    def row(label, key, psnr):
        return (f"| {label} | {steady[('static', key)]:.3f} | {steady[('static', key, 'small')]:.3f} "
                f"| {steady[('pan', key)]:.3f} | {steady[('pan', key, 'small')]:.3f} | {psnr} |")

    lines.append(row("source's true colours", "original", f"gray input: {steady[('pan', 'gray psnr')]:.2f}"))
    lines.append(row("the same, H.264 as the output", "encoded", "–"))
    for strength, interval in SETTINGS:
        label = f"{'0 (off)' if strength == 0 else f'{strength:g}'}, {interval}" + (
            " (each frame alone)" if (strength, interval) == (0.0, 1) else "")
        if (strength, interval) == (DEFAULT_TEMPORAL_SMOOTHING, DEFAULT_NETWORK_INTERVAL):
            label += " (default)"
        lines.append(row(label, (strength, interval), f"{steady[('pan', 'psnr', (strength, interval))]:.2f}"))
    return "\n".join(lines)


def write_doc(markdown: str, markers: str) -> None:
    """markdown between <!-- MARKERS --> and <!-- /MARKERS --> in docs/PERFORMANCE.md."""
    text = DOC.read_text()
    start = text.index(f"<!-- {markers} -->") + len(f"<!-- {markers} -->")
    end = text.index(f"<!-- /{markers} -->")
    DOC.write_text(text[:start] + "\n" + markdown + "\n" + text[end:])
    print(f"wrote {markers} into {DOC.relative_to(REPOSITORY)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.video", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="colour photos (default: %(default)s)")
    parser.add_argument("--skip-speed", action="store_true", help="flicker and PSNR only")
    parser.add_argument("--skip-steadiness", action="store_true", help="frame rates only")
    parser.add_argument("--size", type=int, help="working resolution (default: the Colorizer's)")
    parser.add_argument("--write-doc", action="store_true", help="also update docs/PERFORMANCE.md")
    args = parser.parse_args(argv)
    import av

    photos = landscape_photos(args.photos, SCENE_PHOTOS)
    size = {"size": args.size} if args.size else {}
    with tempfile.TemporaryDirectory() as scratch:
        if not args.skip_speed:
            fps = {}
            # the default model has no int8 file (models/MODEL_CARD.md); int8 is the regression model's
            configurations = (("default", {}, {}), ("network on every frame", {}, {"network_interval": 1}),
                              ("regression model, int8", {"model": "regression", "precision": "int8"}, {}))
            for label, options, video_options in configurations:
                rows = speed(av, Colorizer(**options, **size), cv2.imread(str(photos[0])), Path(scratch),
                             **video_options)
                fps.update({f"{name}, {label}": row for name, row in rows.items()})
            print(speed_table(fps))
            if args.write_doc:
                write_doc(speed_table(fps), "video-speed")
        if not args.skip_steadiness:
            markdown = steadiness_table(steadiness(av, Colorizer(**size), photos, Path(scratch)), len(photos))
            print(markdown)
            print(f"(photos: {', '.join(p.name for p in photos)})")
            if args.write_doc:
                write_doc(markdown, "video-steadiness")


if __name__ == "__main__":
    main()
