"""python -m export.guided CHECKPOINT [-o models/colorize_guided.onnx]: a train.train_guided checkpoint -> the
verified guided ONNX file (the runtime's --hint, --reference and --suggest; docs/EMBEDDING.md).

Pinned as python -m export: the dynamo exporter at opset 18, N dynamic, the model in eval mode, one self-contained
file, metadata_props as JSON values. Inputs "L" [N,1,256,256], "hints" [N,3,256,256], "global_hint" [N,Q];
outputs "ab" [N,2,256,256] (decoded as the default file decodes: its temperature, calibration, pool and
confidence, read from its metadata; --temperature etc. override) and "distribution" [N,Q,32,32] (the colour
probabilities at 1/8 size, the rebalancing divided out, for suggested colours). The hint contract, the ab cells
included, is in the metadata key "hints". Before writing: onnx.checker, then onnxruntime against torch without
hints, with points and with a global hint, and the file without hints against the base network's decoding.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from colorize_runtime import colour, files, guided
from colorize_runtime.colorizer import DEFAULT_MODEL, shipped_model_path
from export.export import (OPSET, PARITY_TOLERANCE, REPOSITORY, SAMPLE_PHOTO, metadata as base_metadata, sample_input,
                           without_stack_traces)
from train.guided import DecodedGuidedColorizer, GuidedColorizer, simulate_points
from train.model import DecodedColorizer
from train.train import load_checkpoint
from train.train_guided import base_from_checkpoint

DEFAULT_OUTPUT = REPOSITORY / "models" / "colorize_guided.onnx"
INPUTS, OUTPUTS = ["L", "hints", "global_hint"], ["ab", "distribution"]
# trained on 35 % own and 15 % other photos' distributions, the network follows any reference as if it were the
# photo's own; at half strength another photo of the same source no longer costs PSNR against none, while the
# photo's own still gains about 2 dB (docs/experiments.md#2026-12-06-the-guided-network-v2)
REFERENCE_STRENGTH = 0.5


DECODING_DEFAULTS = {"temperature": 1.0, "calibration": 0.0, "pool": 1, "confidence": 0.0, "neutral": 0.0, "gain": 1.0}


def default_decoding() -> dict:
    """The default file's decoding (temperature, calibration, pool, confidence, neutral, gain), read from its
    metadata: the guided file decodes the same way, so that without hints it gives what the default gives."""
    props = onnx.load(str(shipped_model_path(DEFAULT_MODEL)), load_external_data=False).metadata_props
    head = json.loads({p.key: p.value for p in props}["head"])
    return {key: head.get(key, default) for key, default in DECODING_DEFAULTS.items()}


def load_model(checkpoint: dict, decoding: dict | None = None, reference_strength: float = 1.0
               ) -> DecodedGuidedColorizer:
    """The guided checkpoint's network decoded as decoding says (default: the default file's decoding), its
    response to a reference tempered by reference_strength (GuidedColorizer.scale_reference)."""
    decoding = decoding or default_decoding()
    if decoding["pool"] != checkpoint["config"]["pool"]:
        raise SystemExit(f"export.guided: the network was trained at pool {checkpoint['config']['pool']}, "
                         f"not {decoding['pool']}")
    model = GuidedColorizer(base_from_checkpoint(checkpoint["config"]["init_from"]))
    model.load_state_dict(checkpoint["model"])
    model.scale_reference(reference_strength)
    return DecodedGuidedColorizer(model, **decoding).eval()


def base_decoding(model: DecodedGuidedColorizer) -> DecodedColorizer:
    """The base network alone with the guided file's decoding: what the file computes without hints."""
    return DecodedColorizer(model.model.base, model.temperature, model.calibration, model.pool,
                            model.confidence, model.neutral, model.gain).eval()


def to_onnx(model: DecodedGuidedColorizer) -> onnx.ModelProto:
    window, cells = colour.WINDOW, model.model.base.ab_bins.shape[0]
    example = (torch.zeros(1, 1, window, window), torch.zeros(1, 3, window, window), torch.zeros(1, cells))
    batch = torch.export.Dim("N", min=1, max=1024)
    program = torch.onnx.export(model, example, dynamo=True, opset_version=OPSET, input_names=INPUTS,
                                output_names=OUTPUTS, dynamic_shapes=({0: batch}, {0: batch}, {0: batch}),
                                external_data=False, verbose=False)
    return without_stack_traces(program.model_proto)


def hint_contract(model: DecodedGuidedColorizer) -> dict:
    cells = model.model.base.ab_bins.numpy() * colour.AB_SCALE
    return {
        "inputs": {
            "hints": "[N,3,256,256] float32: channels 0 and 1 the pinned a, b normalised (ab / ab_scale), channel 2 "
                     "the mask (1 at pinned pixels, 0 elsewhere, where a, b are 0 too); all zero: no pins",
            "global_hint": f"[N,{len(cells)}] float32: a colour distribution over ab_cells (sums to 1; a reference "
                           "photo's ab spread on the cells by a Gaussian of sigma 5), all zero for none"},
        "outputs": {"ab": "[N,2,256,256] normalised ab, as the default model's",
                    "distribution": f"[N,{len(cells)},32,32] the probability of each ab cell at 1/8 size"},
        "ab_cells": np.round(cells, 3).tolist(),
        "pin_size": guided.PIN_SIZE,
        "reference_sigma": guided.REFERENCE_SIGMA,
        "trained_with": "hints simulated from the truth (Zhang, Zhu et al. 2017): a geometric number of 1-9 px "
                        "patches, each the patch's mean true ab; global hints the photo's own or another's",
    }


def verify(model_proto: onnx.ModelProto, model: DecodedGuidedColorizer, photo: Path) -> dict:
    """onnx.checker; onnxruntime vs torch on both outputs (no hints, points, a global hint); the file without
    hints vs the base network alone with the same decoding (the same function, by construction)."""
    onnx.checker.check_model(model_proto, full_check=True)
    session = ort.InferenceSession(model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    window, cells = colour.WINDOW, model.model.base.ab_bins.shape[0]
    rng = np.random.default_rng(0)
    lightness = np.concatenate([sample_input(photo), rng.uniform(-1, 1, (1, 1, window, window)).astype(np.float32)])
    target = rng.uniform(-0.5, 0.5, (2, window, window)).astype(np.float32)
    points = np.stack([simulate_points(target, (window, window), 10, rng)] * 2)
    own = rng.dirichlet(np.ones(cells)).astype(np.float32)
    cases = {"no hints": (np.zeros_like(points), np.zeros((2, cells), np.float32)),
             "10 points": (points, np.zeros((2, cells), np.float32)),
             "global hint": (np.zeros_like(points), np.stack([own, own]))}
    diffs = {}
    for name, (hints, global_hint) in cases.items():
        with torch.no_grad():
            expected = [t.numpy() for t in model(*map(torch.from_numpy, (lightness, hints, global_hint)))]
        got = session.run(None, {"L": lightness, "hints": hints, "global_hint": global_hint})
        diffs[name] = max(float(np.abs(g - e).max()) for g, e in zip(got, expected))
        if name == "no hints":
            with torch.no_grad():
                base_ab = base_decoding(model)(torch.from_numpy(lightness)).numpy()
            diffs["no hints vs the base network"] = float(np.abs(base_ab - got[0]).max())
    worst = max(diffs.values())
    if worst > PARITY_TOLERANCE:
        raise SystemExit(f"export.guided: onnxruntime differs: {diffs}")
    return diffs


def export(checkpoint_path: Path, output: Path, photo: Path = SAMPLE_PHOTO, decoding: dict | None = None,
           reference_strength: float = REFERENCE_STRENGTH) -> None:
    checkpoint = load_checkpoint(checkpoint_path)
    model = load_model(checkpoint, decoding, reference_strength)
    model_proto = to_onnx(model)
    base = load_checkpoint(checkpoint["config"]["init_from"])
    values = base_metadata(base, base_decoding(model)) | {
        "model": {"name": "colorize-guided", "architecture": "the default model (frozen) + hint branches: local "
                  "hints at 1/8 (a dilated-conv branch with the encoder's features), 1/4 and 1/2 size; a global "
                  "hint into the global context"},
        "hints": hint_contract(model) | {"reference_strength": reference_strength},
        "guided_training": {"config": checkpoint["config"], "step": checkpoint["step"],
                            "best_val": checkpoint["best_val"]}}
    for key, value in values.items():
        model_proto.metadata_props.add(key=key, value=json.dumps(value))
    diffs = verify(model_proto, model, photo)
    output.parent.mkdir(parents=True, exist_ok=True)
    with files.replacing(output) as temporary:
        temporary.write_bytes(model_proto.SerializeToString())
    for name, diff in diffs.items():
        print(f"parity, {name}: max abs diff {diff:.2e}")
    print(f"wrote {output}: {output.stat().st_size / 1e6:.2f} MB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m export.guided", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a python -m train.train_guided checkpoint")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--photo", type=Path, default=SAMPLE_PHOTO, help="real photo for the parity check")
    for name in ("temperature", "calibration", "confidence", "neutral", "gain"):
        parser.add_argument(f"--{name}", type=float, help=f"the decoding's {name} (default: the default file's)")
    parser.add_argument("--reference-strength", type=float, default=REFERENCE_STRENGTH,
                        help="how far a reference is trusted, 1 as trained (default: %(default)s)")
    args = parser.parse_args(argv)
    decoding = default_decoding() | {name: value for name, value in vars(args).items()
                                     if name in DECODING_DEFAULTS and value is not None}
    export(args.checkpoint, args.output, args.photo, decoding, args.reference_strength)


if __name__ == "__main__":
    main()
