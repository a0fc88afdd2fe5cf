"""colorize-run: colourise photo files, folders and globs.

Exit code 0 when every file succeeded, 1 when any failed (the others are still done), 2 for usage errors and
bad models (reported before any photo is touched), 130 on Ctrl-C (no half-written file is left behind).
onnxruntime and OpenCV are imported only once the arguments are known, so --help and --version start fast.
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import sys
import time
from pathlib import Path

from colorize_runtime.jobs import MODEL_OPTIONS, PROG, Job, files_of_the_run

OUTPUT_EXTENSIONS = {"png": ".png", "jpg": ".jpg", "webp": ".webp"}
DEFAULT_MAX_PIXELS = 400_000_000  # files.DEFAULT_MAX_PIXELS, repeated so that --help needs no OpenCV
DEFAULT_CRF = 20  # video.DEFAULT_CRF, likewise
STDIO = "-"
EPILOG = """examples:
  colorize-run photo.jpg                  writes photo_color.jpg beside it
  colorize-run -r family/ -o coloured/    a folder tree, mirrored into coloured/
  colorize-run film.mp4                   writes film_color.mp4, sound kept (needs colorize-runtime[video])
  cat photo.jpg | colorize-run - > out.png
  colorize-run -r scans/ --report - | jq .status    the JSON lines on stdout

exit codes: 0 every file done or skipped; 1 some failed (the others were done); 2 usage errors and bad models
(before any file is touched); 130 Ctrl-C, 143 SIGTERM (no half-written file is left behind)"""


class UsageError(Exception):
    """A command line that cannot be run as given (exit code 2)."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _quality(text: str) -> int:
    value = _positive_int(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100, not {value}")
    return value


def _crf(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if not 0 <= value <= 51:
        raise argparse.ArgumentTypeError(f"must be between 0 and 51, not {value}")
    return value


def _smoothing(text: str) -> float:
    value = _non_negative(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be below 1, not {text}")
    return value


def _saturation(text: str) -> float:
    from colorize_runtime.options import MAX_SATURATION

    value = _non_negative(text)
    if not value <= MAX_SATURATION:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_SATURATION:g}, not {text}")
    return value


def _size(text: str) -> int | None:
    return None if text == "full" else _positive_int(text)


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from colorize_runtime import __version__

    parser = argparse.ArgumentParser(prog=PROG, description="Colourise black-and-white photos and videos. Outputs "
                                     "are written atomically, never over an input, and existing ones are skipped.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="FILE",
                        help="photo or video files, folders (with -r) or glob patterns; - reads one image from "
                             "stdin and writes PNG to stdout")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="output file for one input, or folder for many (created if missing); "
                             "default: NAME_color.EXT beside each input")
    parser.add_argument("-r", "--recursive", action="store_true", help="colourise the photos in folders and below")
    parser.add_argument("--suffix", default="_color", help="added to the output names (default: %(default)s)")
    parser.add_argument("--format", choices=["keep", *OUTPUT_EXTENSIONS], default="keep",
                        help="output format (default: keep the input's)")
    parser.add_argument("--quality", type=_quality, default=95, metavar="Q",
                        help="JPEG and WebP quality, 1-100 (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs (never an input)")
    parser.add_argument("--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help="refuse larger images, before decoding them (default: %(default)s)")
    videos = parser.add_argument_group("videos (need colorize-runtime[video]; written as H.264, .mp4 and .mov "
                                       "kept, others as .mkv, with their audio and subtitles)")
    videos.add_argument("--crf", type=_crf, default=DEFAULT_CRF, metavar="N",
                        help="H.264 quality, 0 (lossless) to 51 (worst) (default: %(default)s)")
    videos.add_argument("--temporal-smoothing", type=_smoothing, metavar="S",
                        help="weight of the past frames' colour a frame, 0 (off) to below 1 (default: 0.8)")
    videos.add_argument("--network-interval", type=_positive_int, metavar="N",
                        help="the network sees every Nth frame, the frames between carry its colour along the "
                             "motion; 1: every frame (default: 4)")
    parser.add_argument("--report", metavar="FILE",
                        help="also write one JSON line per file to FILE: path, output, status (written, skipped, "
                             "failed), reason, seconds; - writes them to stdout (the 'SOURCE -> TARGET' lines then "
                             "go to stderr)")
    # Model options left out are not passed on, so that the Colorizer's own defaults apply.
    model = parser.add_argument_group("model", argument_default=argparse.SUPPRESS)
    model.add_argument("--model", metavar="NAME|PATH", default=os.environ.get("COLORIZE_MODEL"),
                       help="a shipped model by name: natural (the default: colour where the network is sure, muted "
                            "where it is not; few strong wrong colours), vivid (the most colour, now and then a "
                            "confident wrong one; formerly classification), regression (cautious, sepia-like) or "
                            "guided (natural steered by --hint and --reference; chosen by those options when no "
                            "--model is given), or the path of an ONNX model (default: $COLORIZE_MODEL, else "
                            "natural)")
    model.add_argument("--providers", choices=["auto", "cpu", "cuda"],
                       help="onnxruntime execution provider (cuda fails loudly when unavailable)")
    model.add_argument("--threads", type=_positive_int, metavar="N", help="CPU threads for the network")
    model.add_argument("--stride", type=_positive_int, metavar="PX", help="window step (default: half a window)")
    model.add_argument("--blend", choices=["mean", "weighted"],
                       help="combine overlapping windows by plain average, or weighted to hide seams")
    model.add_argument("--saturation", type=_saturation, metavar="F", help="scales the colour, 0 to 5 (1: as predicted)")
    model.add_argument("--size", type=_size, metavar="PX|full",
                       help="short side at which the network sees the photo (default: 160), or full: "
                            "windows over the photo at its native resolution")
    model.add_argument("--precision", choices=["fp32", "int8"], help="network precision")
    model.add_argument("--mirror", action=argparse.BooleanOptionalAction,
                       help="also colour the mirrored photo and average the two: slightly better colour for a "
                            "second network pass (default: on, off with --size full)")
    steer = parser.add_argument_group("guided colour (the guided model, used when no --model is given: the default "
                                      "model steered by what you know of the photo)")
    steer.add_argument("--hint", action="append", metavar="X,Y,COLOR",
                       help="pin a colour at pixel X,Y of the photo (origin top-left; COLOR #rrggbb or a CSS name "
                            "such as navy); the photo's own lightness is kept; repeatable")
    steer.add_argument("--hints", metavar="FILE",
                       help='hints from a JSON file: a list of {"x": .., "y": .., "color": ".."}, or for a batch an '
                            "object of such lists keyed by input file name")
    steer.add_argument("--reference", metavar="PHOTO",
                       help="a colour photo whose colours guide every photo and video of the run")
    steer.add_argument("--reference-strength", type=float, metavar="S",
                       help="how strongly the reference's colours are carried over: 0 (ignored) to 3; 1, the "
                            "default, shows the reference's colours; 2 goes twice as far")
    steer.add_argument("--suggest", metavar="X,Y",
                       help="print the likeliest colours at pixel X,Y of the one photo given (#rrggbb and "
                            "probability, one a line), with the hints given so far; writes nothing")
    ray = parser.add_argument_group("Ray cluster (needs colorize-runtime[ray]; every path, the model's too, must "
                                    "be the same on every node: a shared file system)")
    ray.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                     help="colourise on a Ray cluster: auto, HOST:PORT or ray://HOST:PORT, as ray.init takes it; "
                          "no ADDRESS: a Ray started on this machine (then put --ray after the photos)")
    ray.add_argument("--ray-workers", type=_positive_int, metavar="N",
                     help="Colorizer workers (default: as many as the cluster's CPUs, or GPUs, allow)")
    ray.add_argument("--ray-cpus-per-worker", type=_non_negative, metavar="F",
                     help="CPUs each worker reserves, and its network threads unless --threads (default: 1)")
    ray.add_argument("--ray-gpus-per-worker", type=_non_negative, metavar="F",
                     help="GPUs each worker reserves (default: 0)")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    verbosity.add_argument("-v", "--verbose", action="store_true", help="also print the model and timings")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _expand(pattern: str, args: argparse.Namespace) -> list[tuple[Path, Path | None]]:
    """(photo, folder it was found in or None) for one command-line input."""
    path = Path(pattern)
    if not os.path.exists(path) and any(character in pattern for character in "*?["):
        return [entry for match in sorted(glob.glob(pattern)) for entry in _expand(match, args)]
    if not os.path.isdir(path):  # os.path's tests: False for a name too long, where Path's raise
        return [(path, None)]
    if not args.recursive:
        return []
    return [(photo, path) for photo in _photos_in(path, args)]


def _photos_in(folder: Path, args: argparse.Namespace) -> list[Path]:
    """The photos in a folder tree, leaving out hidden files, the -o folder and earlier outputs (NAME_color.EXT
    beside a NAME.*), so that running twice over a folder does not colourise its own results."""
    from colorize_runtime.files import IMAGE_EXTENSIONS
    from colorize_runtime.video import VIDEO_EXTENSIONS

    output = Path(args.output).resolve() if args.output else None
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS
                   and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                   and not (output and output in p.resolve().parents))
    stems = {p.with_suffix("") for p in found}
    suffix = args.suffix
    return [p for p in found if not (suffix and p.stem.endswith(suffix)
                                     and p.with_name(p.stem[:-len(suffix)]) in stems)]


def _output_name(source: Path, args: argparse.Namespace) -> str:
    from colorize_runtime import video

    extension = video.output_extension(source) if video.is_video(source) \
        else source.suffix if args.format == "keep" else OUTPUT_EXTENSIONS[args.format]
    return f"{source.stem}{args.suffix}{extension}"


def plan(args: argparse.Namespace) -> list[Job]:
    """Every input expanded into jobs with their targets; raises UsageError for an -o that cannot work."""
    entries: list[tuple[Path, Path | None, str | None]] = []  # (photo, folder it was found in, why it cannot be)
    for pattern in args.inputs:
        expanded = _expand(pattern, args)
        if not expanded:
            reason = ("is a folder with no photos or videos to colourise in it" if args.recursive else
                      "is a folder; add -r to colourise the photos in it") if os.path.isdir(pattern) \
                else "no file matches"
            entries.append((Path(pattern), None, reason))
        entries += [(source, folder, None) for source, folder in expanded]
    found = [(source, folder) for source, folder, error in entries if not error]

    output = Path(args.output) if args.output else None
    to_folder = output is not None and (len(found) > 1 or any(folder for _, folder in found) or os.path.isdir(output)
                                        or args.output.endswith(os.sep))
    if output and not to_folder and args.format != "keep" and output.suffix.lower() != f".{args.format}":
        raise UsageError(f"-o {output} and --format {args.format} disagree")
    if output and to_folder and os.path.exists(output) and not os.path.isdir(output):
        raise UsageError(f"-o {output}: a file, but {len(found)} inputs need a folder")

    def target(source: Path, folder: Path | None) -> Path:
        if output is None:
            return source.with_name(_output_name(source, args))
        if to_folder:
            relative = source.relative_to(folder) if folder else Path(source.name)
            return output / relative.with_name(_output_name(source, args))
        return output

    jobs = [Job(source, error=error) if error else Job(source, target(source, folder))
            for source, folder, error in entries]

    inputs = {job.source.resolve(): job for job in jobs}
    targets: dict[Path, Job] = {}
    for job in jobs:
        if job.error:
            continue
        resolved = job.target.resolve()
        if resolved in inputs and inputs[resolved] is not job:
            job.error = f"output {job.target} is another input; refusing to overwrite it"
        elif resolved in targets:
            job.error = f"output {job.target} is also the output of {targets[resolved].source}"
        targets.setdefault(resolved, job)
    return jobs


GUIDANCE_OPTIONS = ("hint", "hints", "reference", "suggest")
# Options whose empty value ("" from an unset shell variable) would otherwise read as not given: the run would go
# on without the file or point asked for.
EMPTY_REFUSED = (("-o", "output", "a file or folder"), ("--report", "report", "a file name, or -"),
                 ("--hints", "hints", "a JSON file"), ("--reference", "reference", "a colour photo"),
                 ("--suggest", "suggest", "X,Y"))


def main(argv: list[str] | None = None) -> int:
    from colorize_runtime import process_guard

    process_guard.reopen_closed_standard_streams()
    with process_guard.stderr_of_our_own(), process_guard.signals_as_interrupt() as signals:  # SIGTERM: exit 143
        try:
            code = _main(argv, signals)
        except (KeyboardInterrupt, ImportError) as error:
            if isinstance(error, ImportError) and not signals["interrupted"]:
                raise
            print(f"{PROG}: {'terminated' if signals['terminated'] else 'interrupted'}", file=sys.stderr)
            code = 130
    return process_guard.exit_code(code, signals)


def run() -> None:
    """The command's entry point: main(), then exit at once. By then every output file has been written, synced
    and renamed, and the reader thread is idle; only the streams still need flushing. Skipping the interpreter's
    teardown (mostly onnxruntime's) saves about 60 ms, a tenth of a one-photo run."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # a closed pipe, or closed at start (None)
            pass
    os._exit(code)


def _with_negative_points_joined(argv: list[str]) -> list[str]:
    """--hint -1,10,red and --suggest -1,5 as --hint=-1,10,red and --suggest=-1,5: argparse takes a value that
    starts with - and is not a plain number for an option, and would fail with its own message, where ours says
    that the point lies outside the photo."""
    joined: list[str] = []
    for argument in argv:
        if joined and joined[-1] in ("--hint", "--suggest") and re.match(r"-[0-9.]", argument):
            joined[-1] = f"{joined[-1]}={argument}"
        else:
            joined.append(argument)
    return joined


def _main(argv: list[str] | None, signals: dict) -> int:
    try:
        args = build_parser().parse_args(_with_negative_points_joined(sys.argv[1:] if argv is None else argv))
    except SystemExit as stop:  # argparse's own exit: 0 for --help/--version, 2 for usage errors
        return int(stop.code or 0)
    for flag, name, expected in EMPTY_REFUSED:
        if getattr(args, name) == "":
            return _usage_error(f"{flag} is empty; expected {expected}")
    stdio = STDIO in args.inputs
    if stdio and len(args.inputs) > 1:
        return _usage_error(f"{STDIO} (stdin) cannot be mixed with other inputs")
    if stdio and (args.ray is not None or args.report):
        return _usage_error(f"{STDIO} (stdin) cannot be used with --ray or --report")
    ray_options = [name for name in ("ray_workers", "ray_cpus_per_worker", "ray_gpus_per_worker")
                   if getattr(args, name) is not None]
    if ray_options and args.ray is None:
        return _usage_error(f"--{ray_options[0].replace('_', '-')} needs --ray")
    if any(separator and separator in args.suffix for separator in (os.sep, os.altsep, "\0")):
        return _usage_error(f"--suffix {args.suffix!r}: a path separator in a suffix would write elsewhere than "
                            "beside the input (use -o for another folder)")
    if args.reference_strength is not None and not args.reference:
        return _usage_error("--reference-strength needs --reference PHOTO")
    args.reference_strength = 1.0 if args.reference_strength is None else args.reference_strength
    guiding = any(getattr(args, name) for name in GUIDANCE_OPTIONS)
    if guiding and (stdio or args.ray is not None):
        return _usage_error(f"--hint, --hints, --reference and --suggest cannot be used with "
                            f"{STDIO if stdio else '--ray'}")
    if guiding and getattr(args, "model", None) is None:
        args.model = "guided"
    try:
        jobs = [] if stdio else plan(args)
    except UsageError as error:
        return _usage_error(str(error))
    from colorize_runtime import leftovers

    leftovers.sweep(job.target.parent for job in jobs if job.target)  # what killed runs left in our folders
    if args.suggest and (len(jobs) != 1 or jobs[0].error):
        return _usage_error("--suggest needs exactly one photo" + (f" ({jobs[0].error})" if len(jobs) == 1 else ""))
    if args.ray is not None:
        from colorize_runtime.cluster import run_on_ray

        return run_on_ray(jobs, args)

    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # each failure gets one line of ours
    reader = None if stdio else PhotoReader(jobs, args)  # the first photo is read while onnxruntime and the model load
    from colorize_runtime.errors import ColorizeError

    try:
        from colorize_runtime.colorizer import Colorizer  # a ColorizeError without onnxruntime

        colorizer = Colorizer(args.model, **{name: getattr(args, name) for name in MODEL_OPTIONS if name in args})
    except ColorizeError as error:
        if reader:
            reader.close()
        if signals["interrupted"]:  # onnxruntime's import, interrupted, says it is not installed
            raise KeyboardInterrupt from None
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    if args.verbose:
        print(f"{PROG}: model {colorizer.model_path}, providers {', '.join(colorizer.session.get_providers())}",
              file=sys.stderr)
    if stdio:
        return _run_stdio(colorizer, args)
    guidance = None
    if guiding:
        from colorize_runtime import guided, video

        sources = [job.source for job in jobs if not job.error]
        try:
            guidance = guided.plan_run(colorizer, args.hint, args.hints, args.reference,
                                       [s for s in sources if not video.is_video(s)],
                                       [s for s in sources if video.is_video(s)], args.max_pixels,
                                       args.reference_strength)
            if args.suggest:
                reader.close()
                return _print_suggestions(colorizer, jobs[0], guidance, args)
        except ColorizeError as error:
            reader.close()
            return _usage_error(" ".join(str(error).split()))
    return _run_batch(colorizer, jobs, args, reader, guidance)


class PhotoReader:
    """Checks the target and reads the photo of job i + 1 in a background thread while job i is colourised and
    written: decoding overlaps the rest (OpenCV and onnxruntime release the GIL), and the first photo is read while
    the model loads. At most one photo is read ahead. result(i) returns job i's image or raises its error."""

    def __init__(self, jobs: list[Job], args: argparse.Namespace) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from colorize_runtime import files, video  # imported here, not in the reading thread

        self._files, self._video, self._jobs, self._args = files, video, jobs, args
        self.notes: dict[Path, list[str]] = {}  # remarks on a photo read (the first page of a multi-page TIFF)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="colorize-reader")
        self._pending = {0: self._submit(0)} if jobs else {}

    def _submit(self, index: int):
        return self._pool.submit(self._read, self._jobs[index])

    def _read(self, job: Job):
        if job.error:
            raise self._files.ImageFileError(job.error)
        self._files.check_target(job.source, job.target, self._args.force)
        if self._video.is_video(job.source):
            return None  # decoded frame by frame as it is colourised
        return self._files.read_image(job.source, self._args.max_pixels, self.notes.setdefault(job.source, []))

    def result(self, index: int):
        future = self._pending.pop(index)
        if index + 1 < len(self._jobs):
            self._pending[index + 1] = self._submit(index + 1)
        return future.result()

    def close(self, wait: bool = False) -> None:
        """Drop what is queued; a read in progress finishes (a bounded wait at exit), nothing is written. wait:
        return only once it has: a decode borrows stderr (decoding.imdecode), so a line printed before it gives
        stderr back would be lost at exit."""
        self._pool.shutdown(wait=wait, cancel_futures=True)


def _print_suggestions(colorizer, job: Job, guidance, args: argparse.Namespace) -> int:
    """--suggest X,Y: the likeliest colours at a point of the one photo, one '#rrggbb probability' a line.
    Raises ColorizeError for a usage error (a malformed or outside point, a video)."""
    from colorize_runtime import files, guided, process_guard, video
    from colorize_runtime.errors import ColorizeError

    x, y = guided.parse_point(args.suggest)
    if video.is_video(job.source):
        raise ColorizeError(f"{job.source}: --suggest applies to photos, not videos")
    try:
        image = files.read_image(job.source, args.max_pixels)
    except ColorizeError as error:
        print(f"{PROG}: {job.source}: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    try:
        suggestions = colorizer.suggest(image, x, y, **guidance.for_photo(job.source))
    except ColorizeError as error:
        raise ColorizeError(f"{job.source}: {error}") from None
    lines = "".join(f"{suggestion.hex} {suggestion.probability:.2f}\n" for suggestion in suggestions)
    try:
        sys.stdout.write(lines)
        sys.stdout.flush()
    except BrokenPipeError:  # its reader has gone (| head -c 0): as a batch does, quietly
        process_guard.stdout_gone()
    except (AttributeError, OSError, ValueError) as error:  # a full disk, or stdout closed at start
        print(f"{PROG}: stdout: {getattr(error, 'strerror', None) or 'closed'}; the suggestions were not written",
              file=sys.stderr)
        return 1
    return 0


def _usage_error(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2


def _run_stdio(colorizer, args: argparse.Namespace) -> int:
    """One image from stdin to PNG on stdout (or to -o FILE)."""
    from colorize_runtime import files
    from colorize_runtime.errors import ColorizeError

    to_file = args.output and args.output != STDIO
    if not to_file and sys.stdout is None:
        print(f"{PROG}: stdin: stdout is closed, nowhere to write the PNG (use -o FILE)", file=sys.stderr)
        return 1
    try:
        if to_file:
            files.check_target(Path(STDIO), Path(args.output), args.force)
        result = colorizer.colorize(files.decode_image(sys.stdin.buffer.read(), args.max_pixels))
        if to_file:
            files.write_image(args.output, result, args.quality)
        else:
            sys.stdout.buffer.write(files.encode_image(result, ".png"))
            sys.stdout.buffer.flush()
    except files.OutputExistsError as error:
        print(f"{PROG}: stdin: {error}", file=sys.stderr)
    except (ColorizeError, OSError, MemoryError) as error:
        print(f"{PROG}: stdin: {' '.join(str(error).split()) or type(error).__name__}", file=sys.stderr)
        return 1
    return 0


def _run_batch(colorizer, jobs: list[Job], args: argparse.Namespace, reader: PhotoReader, guidance=None) -> int:
    import cv2

    from colorize_runtime import files, video
    from colorize_runtime.errors import ColorizeError
    from colorize_runtime.report import FAILED, SKIPPED, WRITTEN, BatchReport, one_line

    try:
        report = BatchReport(len(jobs), args, files_of_the_run(jobs, args, colorizer.model_path))
    except (OSError, ColorizeError) as error:
        reader.close()
        return _usage_error(f"--report {args.report}: {getattr(error, 'strerror', None) or error}")
    index = 0
    try:
        for index, job in enumerate(jobs):
            try:
                start = time.perf_counter()
                image = reader.result(index)
                job.target.parent.mkdir(parents=True, exist_ok=True)
                if image is None:  # a video
                    size = video.colorize_for_command_line(colorizer, job.source, job.target, args,
                                                           lambda message: report.note(job.source, message),
                                                           guidance.reference if guidance else None)
                else:
                    guided = guidance.for_photo(job.source) if guidance else {}
                    files.write_image(job.target, colorizer.colorize(image, **guided), args.quality)
                    size = (image.shape[1], image.shape[0])
            except files.OutputExistsError as error:
                report.add(job.source, job.target, SKIPPED, str(error), time.perf_counter() - start)
                continue
            except (ColorizeError, OSError, cv2.error, MemoryError) as error:
                report.add(job.source, job.target, FAILED, one_line(error), time.perf_counter() - start)
                continue
            if image is not None and image.ndim == 3 and image.shape[2] == 4 \
                    and job.target.suffix.lower() in files.NO_ALPHA_EXTENSIONS:
                report.note(job.source, "JPEG has no alpha channel; the transparency was dropped")
            for note in reader.notes.pop(job.source, []):
                report.note(job.source, note)
            report.add(job.source, job.target, WRITTEN, seconds=time.perf_counter() - start, size=size)
    except KeyboardInterrupt:
        reader.close(wait=True)
        kind = "video" if jobs and video.is_video(jobs[index].source) else "photo"
        return report.interrupted(f"the {kind} in progress was not")
    reader.close()
    return report.finish()
