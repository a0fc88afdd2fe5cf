"""python -m benchmarks [--quick] [--write-doc]: one run, one table, one JSON file.

Measures, on this machine and in this order: the per-window cost of the network (onnxruntime fp32 and int8, torch
eager) against the FLOP floor (the model's conv FLOPs at the matmul rate measured in the same run); colorize-run
end to end on generated gray photos of 1, 12 and 48 MP, one photo per process and several, in the default mode
and in full-resolution sliding-window mode, with wall time and peak RSS; the stages of a 12 MP photo; a 100 MP
photo in bounded memory; cold start. --write-doc puts the table into docs/PERFORMANCE.md and the JSON beside it.
The whole run takes a few minutes on a 2-core machine; other load on the machine makes every number worse, so
the load average is recorded with them.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from benchmarks import endtoend, windows
from colorize_runtime import Colorizer, __version__, colour
from colorize_runtime.colorizer import (WINDOWS_PER_RUN, default_model_path, int8_model_path, shipped_model_path,
                                        window_starts)

REPOSITORY = Path(__file__).resolve().parent.parent
SAMPLE_PHOTO = REPOSITORY / "examples" / "sample.jpg"
DOC = REPOSITORY / "docs" / "PERFORMANCE.md"
DOC_JSON = REPOSITORY / "docs" / "performance.json"
TABLE_START, TABLE_END = "<!-- benchmark-table -->", "<!-- /benchmark-table -->"
MATRIX_LABEL = f"{windows.MATMUL_SIZE}² fp32 matmul, best of 5"
BUSY_LOAD = 0.5  # load average at the start above which the numbers are marked as disturbed

ONE_PHOTO_MP, BATCHES, LARGE_MP = (1, 12, 48), ((1, 8), (12, 4)), 100
QUICK_ONE_PHOTO_MP, QUICK_BATCHES = (1,), ((1, 2),)
DEFAULT_MODE_REPEATS = 5  # runs of each default-mode measurement; the table gives the median
LEAST_OVERLAP_STRIDE = 250  # windows that still overlap (by 6 px); no stride needs fewer windows for 4000 x 3000


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    versions = {"python": platform.python_version(), "onnxruntime": ort.__version__, "numpy": np.__version__,
                "opencv": cv2.__version__, "colorize_runtime": __version__}
    try:
        import torch
        versions["torch"] = torch.__version__
    except ImportError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "versions": versions, "load_average_start": os.getloadavg()[0]}


def int8_model(model: Path, scratch: Path) -> tuple[Path, str]:
    """The fp32 model whose int8 file is measured: the one given when its int8 file is beside it; the shipped
    regression model for the default model, which has none (export refuses its int8: models/MODEL_CARD.md);
    else one quantised now into scratch (needs export/'s dependencies)."""
    if int8_model_path(model).is_file():
        return model, "beside the fp32 model"
    if model == default_model_path():
        return shipped_model_path("regression"), "the regression model's (the default model has no int8 file)"
    from export.quantize import quantize

    copy = scratch / model.name
    shutil.copyfile(model, copy)
    quantize(copy)
    return copy, "quantised for this run (none beside the fp32 model)"


def window_results(args: argparse.Namespace, scratch: Path) -> dict:
    gflop = windows.conv_gflop(args.model)
    matmul = windows.matmul_rate()
    floor_ms = gflop / matmul["gflops_per_s"] * 1e3
    batch = args.batch or WINDOWS_PER_RUN["CPUExecutionProvider"]
    feed = windows.sample_windows(SAMPLE_PHOTO, batch)
    int8_base, int8_source = int8_model(args.model, scratch)
    engines = {"onnxruntime fp32": windows.onnxruntime_window(args.model, "fp32", feed, args.threads),
               "onnxruntime int8": windows.onnxruntime_window(int8_base, "int8", feed, args.threads)}
    engines["onnxruntime int8"]["model"] = int8_source
    if int8_base != args.model:  # the int8 speed-up is against the same model's fp32
        engines["onnxruntime fp32, int8's model"] = windows.onnxruntime_window(int8_base, "fp32", feed, args.threads)
    torch_result = windows.torch_window(feed, args.checkpoint, args.threads)
    if torch_result:
        engines["torch eager fp32"] = torch_result
    for result in engines.values():
        result["x_floor"] = result["ms"] / floor_ms
    return {"gflop_per_window": gflop, "matmul": matmul, "floor_ms": floor_ms, "engines": engines}


def modes(size: int | None) -> dict[str, list[str]]:
    """CLI options of each mode. The default mode is colorize-run's own default (or --size given here); when that
    is full resolution, the two modes are one."""
    full = ["--size", "full", "--precision", "fp32"]
    if size is None:
        return {"default = full": full}
    return {f"default (size {size})": ["--size", str(size)], "full": full}


def full_windows(megapixels: float, stride: int = colour.WINDOW // 2) -> int:
    """Network windows of a photo of this size at full resolution (default: the runtime's default stride)."""
    return int(np.prod([len(window_starts(side, colour.WINDOW, stride)) for side in endtoend.photo_shape(megapixels)]))


def end_to_end(args: argparse.Namespace, scratch: Path) -> dict:
    default_size = args.size or inspect.signature(Colorizer).parameters["size"].default
    model_options = ["--model", str(args.model)] + (["--threads", str(args.threads)] if args.threads else [])
    one_photo_mp, batches = (QUICK_ONE_PHOTO_MP, QUICK_BATCHES) if args.quick else (ONE_PHOTO_MP, BATCHES)
    photos = {mp: endtoend.make_photo(SAMPLE_PHOTO, mp, scratch / f"photo_{mp}mp.jpg")
              for mp in sorted({*one_photo_mp, *(mp for mp, _ in batches)})}
    runs = []
    for mode, options in modes(default_size).items():
        # the default mode takes a second or so a run: the median of a few; full resolution: one run each
        repeats = 1 if args.quick or "full" in mode else DEFAULT_MODE_REPEATS
        for mp in one_photo_mp:
            single = endtoend.colorize_run([photos[mp]], model_options + options, repeats)
            runs.append({"mode": mode, "megapixels": mp, **single})
        for mp, count in batches:
            copies = [photos[mp]] + [shutil.copyfile(photos[mp], scratch / f"copy{i}_{mp}mp.jpg")
                                     for i in range(1, count)]
            batch = endtoend.colorize_run(copies, model_options + options, repeats)
            one = next(r for r in runs if r["mode"] == mode and r["megapixels"] == mp and r["photos"] == 1)
            batch["marginal_per_photo_s"] = (batch["wall_s"] - one["wall_s"]) / (count - 1)
            runs.append({"mode": mode, "megapixels": mp, **batch})
    result = {"default_size": default_size, "runs": runs, "full_windows_12mp": full_windows(12),
              "full_windows_12mp_least_overlap": full_windows(12, stride=LEAST_OVERLAP_STRIDE)}
    default_mode, default_options = next(iter(modes(default_size).items()))
    colorizer = Colorizer(args.model, providers="cpu", threads=args.threads, size=default_size)
    stages_mp = max(one_photo_mp)
    result["stages"] = {"mode": default_mode, "megapixels": stages_mp, **endtoend.stages(photos[stages_mp], colorizer)}
    if not args.quick:
        large = endtoend.make_photo(SAMPLE_PHOTO, LARGE_MP, scratch / f"photo_{LARGE_MP}mp.jpg")
        result["large"] = {"mode": default_mode, "megapixels": LARGE_MP,
                           **endtoend.colorize_run([large], model_options + default_options)}
    return result


def targets(results: dict) -> list[dict]:
    """The issue's 'done when' list, each with the measured value."""
    engines, e2e = results["windows"]["engines"], results["end_to_end"]
    runs = e2e["runs"]
    default_mode = runs[0]["mode"]

    def run(mode, mp, batch):
        return next((r for r in runs if r["mode"] == mode and r["megapixels"] == mp and (r["photos"] > 1) == batch),
                    None)

    full_mode = runs[-1]["mode"]
    rows = [
        ("per-window fp32 / FLOP floor", engines["onnxruntime fp32"]["x_floor"], "<=", 1.2, "x"),
        ("int8 speed-up over fp32 (same model)", engines.get("onnxruntime fp32, int8's model",
                                                        engines["onnxruntime fp32"])["ms"]
         / engines["onnxruntime int8"]["ms"], ">=", 1.8, "x"),
        ("12 MP default mode, per photo in a batch", (run(default_mode, 12, True) or {}).get("marginal_per_photo_s"),
         "<=", 0.2, "s"),
        ("12 MP default mode, one-photo run", (run(default_mode, 12, False) or {}).get("wall_s"), "<=", 0.5, "s"),
        ("12 MP full resolution fp32, per photo in a batch",
         (run(full_mode, 12, True) or {}).get("marginal_per_photo_s"),
         "<=", 4.0, "s"),
        ("12 MP peak RSS (worst mode)", max((r["peak_rss_mb"] for r in runs if r["megapixels"] == 12), default=None),
         "<=", 600, "MB"),
        ("100 MP photo peak RSS", e2e.get("large", {}).get("peak_rss_mb"), "<=", 4096, "MB"),
        ("colorize-run --version", results["cold_start"]["version_s"], "<=", 0.3, "s"),
    ]
    return [{"target": name, "measured": value, "goal": f"{op} {goal} {unit}",
             "met": None if value is None else (value <= goal if op == "<=" else value >= goal)}
            for name, value, op, goal, unit in rows]


def _fmt(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(results: dict) -> str:
    """The results as Markdown (printed and written into docs/PERFORMANCE.md)."""
    info, win, e2e = results["machine"], results["windows"], results["end_to_end"]
    load = f"load average {info['load_average_start']:.2f} at the start, {results['load_average_end']:.2f} at the end"
    disturbed = info["load_average_start"] > BUSY_LOAD
    lines = [f"Measured {results['date']} on {info['cpu']}, {info['cores']} cores, onnxruntime "
             f"{info['versions']['onnxruntime']}{', quick run' if results['quick'] else ''}; {load}"
             + (" — **disturbed: other processes were using the CPU**." if disturbed else "."), "",
             f"One 256×256 window: {win['gflop_per_window']:.2f} GFLOP (convolutions); matmul rate "
             f"{win['matmul']['gflops_per_s']:.0f} GFLOP/s (numpy {MATRIX_LABEL}); FLOP floor "
             f"**{win['floor_ms']:.1f} ms/window**.", "",
             "| engine | ms / window (median) | min | × floor |", "|---|---:|---:|---:|"]
    for name, r in win["engines"].items():
        lines.append(f"| {name} (batch {r['batch']}) | {r['ms']:.1f} | {r['min_ms']:.1f} | {r['x_floor']:.2f} |")
    repeats = sorted({r.get("runs", 1) for r in e2e["runs"]})
    lines += ["", f"Wall time: the median of {' or '.join(map(str, repeats))} runs of each (full resolution: one).", "",
              "| mode | photo | photos per run | wall s | per photo s | marginal per photo s | peak RSS MB |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for r in e2e["runs"] + ([e2e["large"]] if "large" in e2e else []):
        lines.append(f"| {r['mode']} | {r['megapixels']} MP | {r['photos']} | {r['wall_s']:.2f} | "
                     f"{r['per_photo_s']:.2f} | {_fmt(r.get('marginal_per_photo_s'))} | {r['peak_rss_mb']:.0f} |")
    windows_12mp = e2e["full_windows_12mp"]
    lines += ["", f"At full resolution a 12 MP photo is {windows_12mp} windows (stride {colour.WINDOW // 2}): at least "
              f"{windows_12mp * win['floor_ms'] / 1e3:.1f} s at the fp32 floor, "
              f"{windows_12mp * win['engines']['onnxruntime int8']['ms'] / 1e3:.1f} s at the measured int8 rate. "
              f"Even with windows that overlap by only {colour.WINDOW - LEAST_OVERLAP_STRIDE} px (stride "
              f"{LEAST_OVERLAP_STRIDE}) it is {e2e['full_windows_12mp_least_overlap']} windows: at least "
              f"{e2e['full_windows_12mp_least_overlap'] * win['floor_ms'] / 1e3:.2f} s at the fp32 floor"]
    default_12mp = next((r for r in e2e["runs"] if r["megapixels"] == 12 and r["photos"] == 1
                         and "full" not in r["mode"]), None)
    if default_12mp:  # its network share is a window or two: the rest is start-up, decoding, conversion, encoding
        rest = default_12mp["wall_s"] - 2 * win["engines"]["onnxruntime fp32"]["ms"] / 1e3
        lines[-1] += (f", plus at least {rest:.2f} s for the rest of the run (the default-mode one-photo 12 MP run "
                      f"less two windows): ≥ {e2e['full_windows_12mp_least_overlap'] * win['floor_ms'] / 1e3 + rest:.2f}"
                      " s for any full-resolution 12 MP run in fp32 on this machine (no overlap at all, stride "
                      f"{colour.WINDOW}, needs as many windows: {full_windows(12, stride=colour.WINDOW)}).")
    else:
        lines[-1] += "."
    stages = e2e["stages"]
    lines += ["", f"Stages of one {stages['megapixels']} MP photo in a warm process ({stages['mode']}), ms: "
              + ", ".join(f"{k} {v:.0f}" for k, v in stages.items() if k not in ("mode", "megapixels")) + ".", ""]
    cold = results["cold_start"]
    lines += [f"Cold start: `colorize-run --version` {cold['version_s']:.2f} s; import {cold['import_s']:.2f} s + "
              f"session {cold['session_s']:.2f} s = {cold['import_and_session_s']:.2f} s.", "",
              "| target (issue 5) | measured | goal | met |", "|---|---:|---|---|"]
    for t in results["targets"]:
        met = "–" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['target']} | {_fmt(t['measured'])} | {t['goal']} | {met} |")
    return "\n".join(lines)


def write_doc(markdown: str, results: dict) -> None:
    text = DOC.read_text()
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    DOC.write_text(text[:start] + "\n" + markdown + "\n" + text[end:])
    DOC_JSON.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {DOC.relative_to(REPOSITORY)} and {DOC_JSON.relative_to(REPOSITORY)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=default_model_path(), help="fp32 model (default: shipped)")
    parser.add_argument("--checkpoint", type=Path, help="weights for torch eager (default: seeded random)")
    parser.add_argument("--threads", type=int, help="threads for every engine (default: each one's own)")
    parser.add_argument("--batch", type=int,
                        help="windows per call in the per-window timings (default: the runtime's for a CPU)")
    parser.add_argument("--size", type=int, help="size of the default mode (default: colorize-run's default)")
    parser.add_argument("--quick", action="store_true", help="1 MP photos only: a smoke test of the benchmark itself")
    parser.add_argument("--json", type=Path, default=Path("benchmark.json"), help="default: %(default)s")
    parser.add_argument("--write-doc", action="store_true", help="also update docs/PERFORMANCE.md and its JSON")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": args.quick, "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="colorize-bench-") as scratch:
        results["windows"] = window_results(args, Path(scratch))
        results["end_to_end"] = end_to_end(args, Path(scratch))
    results["cold_start"] = endtoend.cold_start()
    results["load_average_end"] = os.getloadavg()[0]
    results["targets"] = targets(results)
    markdown = table(results)
    print(markdown)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.json}")
    if args.write_doc:
        write_doc(markdown, results)
