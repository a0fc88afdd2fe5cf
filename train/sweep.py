"""Choose the classification head's decoding: python -m train.sweep CHECKPOINT --data DIR [DIR ...] [options].

Every (temperature, calibration, pool) setting of model.decode, at each --sizes working resolution, is scored as
train.evaluate scores a shipped model: the real runtime (colorize_runtime.Colorizer at its defaults: working
resolution, windows, mirror, blending, recolouring at full size) colourises the gray photo and the result is
compared with the original, with one network pass a photo and working resolution:
the runtime's onnxruntime session is replaced by the checkpoint's torch network, whose logits for each window
batch are kept and decoded afresh (model.decode) for every setting. Prints, for each --data folder, PSNR gain over
the gray input, the chroma ratio (mean of per-photo ratios, and pooled), the colourfulness ratio, AuC and
rebalanced AuC, and the source folder with the highest chroma ratio: issue 13's goals side by side. SSIM is
left out (slow, and not what decoding changes). Check the chosen setting with train.evaluate on the exported file.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from colorize_runtime import Colorizer
from train.data import find_photos
from train.evaluate import (SkipPhoto, add_rebalanced_auc, colourfulness, evenly_spaced, mean_chroma, mean_scores,
                            read_truth, score, source_folder)
from train.model import Colorizer as Network
from train.train import load_checkpoint


class RecordingNetwork:
    """Stands in for the runtime's onnxruntime session (its run(None, feed) -> [ab]): the torch network's logits
    for each window batch, computed on a photo's first pass and replayed on its later passes, decoded at the
    current (temperature, calibration, pool)."""

    def __init__(self, network: Network) -> None:
        self.network, self.logits, self.replay, self.decoding = network, [], None, (1.0, 0.0, 1, 0.0, 0.0, 1.0)

    def start_photo(self) -> None:
        self.logits, self.replay = [], None

    def start_pass(self, temperature: float, calibration: float, pool: int = 1, confidence: float = 0.0,
                   neutral: float = 0.0, gain: float = 1.0) -> None:
        self.decoding = (temperature, calibration, pool, confidence, neutral, gain)
        self.replay = None if not self.logits else 0

    @torch.no_grad()
    def run(self, _outputs, feed: dict) -> list[np.ndarray]:
        (lightness,) = feed.values()
        if self.replay is None:
            logits = self.network(torch.from_numpy(lightness))
            self.logits.append(logits)
        else:
            logits, self.replay = self.logits[self.replay], self.replay + 1
        return [self.network.decode(logits, *self.decoding).numpy()]


def summarise(records: list[dict], counts: list[dict]) -> dict:
    """The goals' numbers for one decoding over one folder's photos."""
    add_rebalanced_auc(records, counts)
    overall = mean_scores(records)
    folders = {}
    for record in records:
        folders.setdefault(record["folder"], []).append(record)
    folder_chroma = {name: float(np.mean([r["ours"]["chroma_ratio"] for r in group])) for name, group in folders.items()}
    worst = max(folder_chroma, key=folder_chroma.get)
    ours, floor = overall["ours"], overall["floor"]
    return {"photos": overall["photos"], "psnr_gain_db": ours["psnr"] - floor["psnr"],
            "chroma_ratio": ours["chroma_ratio"], "chroma_ratio_pooled": ours["chroma_ratio_of_means"],
            "colourfulness_ratio": ours["colourfulness_ratio"], "auc": ours["auc"],
            "rebalanced_auc": ours["rebalanced_auc"], "garish": ours["garish"], "cast": ours["cast"],
            "most_garish_photo": max(r["ours"]["garish"] for r in records), "worst_folder": worst,
            "worst_folder_chroma_ratio": folder_chroma[worst], "per_folder_chroma_ratio": folder_chroma}


def score_variants(data: Path, paths: list[Path], variants: Callable[[np.ndarray, np.ndarray], Iterable]) -> dict:
    """Each photo's truth and gray floor once, then every (key, BGR result) that variants(gray, truth_lab) yields
    for it, scored as train.evaluate scores a model; the goals' numbers (summarise) for each key."""
    records: dict = {}
    counts: dict = {}
    for path in tqdm(paths, unit="photo", desc=data.name):
        try:
            truth, truth_lab, gray = read_truth(path)
        except SkipPhoto as reason:
            print(f"warning: {path}: {reason}, skipped", file=sys.stderr)
            continue
        floor, floor_counts = score(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), truth, truth_lab, ssim=False)
        truth_scores = {"colourfulness": colourfulness(truth), "chroma": mean_chroma(truth_lab)}
        for key, result in variants(gray, truth_lab):
            ours, ours_counts = score(result, truth, truth_lab, ssim=False)
            records.setdefault(key, []).append({"folder": source_folder(path, data), "ours": ours,
                                                "floor": dict(floor), "truth": truth_scores})
            counts.setdefault(key, []).append({"ours": ours_counts, "floor": floor_counts})
    return {key: summarise(records[key], counts[key]) for key in records}


def sweep_folder(colorizer: Colorizer, network: RecordingNetwork, data: Path, paths: list[Path],
                 settings: list[tuple[float, float, int, float, float, float]]) -> list[dict]:
    def decodings(gray: np.ndarray, _truth_lab: np.ndarray):
        network.start_photo()
        for setting in settings:
            network.start_pass(*setting)
            yield setting, colorizer.colorize(gray)

    summaries = score_variants(data, paths, decodings)
    return [{"size": colorizer.size, "temperature": t, "calibration": c, "pool": pool, "confidence": confidence,
             "neutral": neutral, "gain": gain} | summaries[(t, c, pool, confidence, neutral, gain)]
            for t, c, pool, confidence, neutral, gain in settings]


def format_rows(rows: list[dict]) -> str:
    lines = ["size     T     c  pool  conf  neutr  gain  photos  PSNR-gray  chroma  pooled  CF/true    AuC  AuC-rb  "
             "garish%  worst%   cast  highest folder chroma", "-" * 145]
    lines += [f"{r['size']:4d} {r['temperature']:5.2f} {r['calibration']:5.2f} {r['pool']:5d} "
              f"{r.get('confidence', 0.0):5.2f} {r.get('neutral', 0.0):6.2f} {r.get('gain', 1.0):5.2f} "
              f"{r['photos']:7d} "
              f"{r['psnr_gain_db']:+10.2f} "
              f"{r['chroma_ratio']:7.3f} {r['chroma_ratio_pooled']:7.3f} {r['colourfulness_ratio']:8.3f} "
              f"{r['auc']:6.2f} {r['rebalanced_auc']:7.2f} {r['garish']:8.2f} {r['most_garish_photo']:7.1f} "
              f"{r['cast']:6.2f}  {r['worst_folder_chroma_ratio']:.3f} "
              f"({r['worst_folder']})" for r in rows]
    return "\n".join(lines)


def _floats(text: str) -> list[float]:
    return [float(value) for value in text.split(",")]


def _ints(text: str) -> list[int]:
    return [int(value) for value in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a classification checkpoint (best.pt or ckpt.pt)")
    parser.add_argument("--data", type=Path, required=True, nargs="+", help="folder trees of colour photos")
    parser.add_argument("--temperatures", type=_floats, default=_floats("0.3,0.4,0.5,0.7"))
    parser.add_argument("--calibrations", type=_floats, default=_floats("0,0.1,0.25,0.5"))
    parser.add_argument("--pools", type=_ints, default=[1],
                        help="decode's pool values to try (the head at 1/(2 pool) size), e.g. 1,2 (default: 1)")
    parser.add_argument("--confidences", type=_floats, default=[0.0],
                        help="decode's confidence values to try (0: off; model.Colorizer.decode), e.g. 0,0.2,0.4")
    parser.add_argument("--neutrals", type=_floats, default=[0.0],
                        help="decode's neutral prior values to try (0: off), e.g. 0,1,1.5,2")
    parser.add_argument("--gains", type=_floats, default=[1.0], help="decode's gain values to try, e.g. 1,1.2,1.3")
    parser.add_argument("--sizes", type=_ints, default=None,
                        help="working resolutions (the runtime's --size) to try, e.g. 160,224 (default: the runtime's)")
    parser.add_argument("--limit", type=int, default=None, help="N photos of each folder, spread evenly")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write every row here")
    args = parser.parse_args(argv)
    checkpoint = load_checkpoint(args.checkpoint)
    if checkpoint["config"].get("head") != "classification":
        print(f"sweep: {args.checkpoint}: not a classification model", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    network = Network.from_config(checkpoint["config"])
    network.load_state_dict(checkpoint["model"])
    recording = RecordingNetwork(network.eval())
    colorizer = Colorizer("vivid", threads=args.threads)  # the runtime's defaults and contract; its network replaced
    colorizer.session = recording
    settings = list(itertools.product(args.temperatures, args.calibrations, args.pools, args.confidences,
                                      args.neutrals, args.gains))
    results = {}
    for data in args.data:
        paths, rows = evenly_spaced(find_photos(data), args.limit), []
        for size in args.sizes or [colorizer.size]:
            colorizer.size = size
            rows += sweep_folder(colorizer, recording, data, paths, settings)
        results[str(data)] = rows
        print(f"{data} (checkpoint step {checkpoint['step']}):\n{format_rows(rows)}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
