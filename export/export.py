"""python -m export CHECKPOINT [-o models/colorize.onnx]: checkpoint -> verified, self-contained ONNX file.

Pinned: the torch.onnx dynamo exporter at opset 18, input "L" float32 [N, 1, 256, 256] (N dynamic),
output "ab" [N, 2, 256, 256], the model in eval mode. The colour contract, the training step, the data summary
and the validation loss go into metadata_props as JSON values. Before the file is written: onnx.checker, then
onnxruntime against torch on random input and on a real photo (max abs diff on normalised ab <= PARITY_TOLERANCE).
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from colorize_runtime import __version__, colour, files
from export import allinone, quantize
from export.photo import centre_window
from train.model import NEUTRAL_RADIUS, Colorizer, DecodedColorizer
from train.train import load_checkpoint

OPSET = 18
PARITY_TOLERANCE = 1e-4
REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPOSITORY / "models" / "colorize.onnx"
SAMPLE_PHOTO = REPOSITORY / "examples" / "sample.jpg"


def load_model(checkpoint: dict, temperature: float | None = None, calibration: float | None = None,
               pool: int | None = None, confidence: float = 0.0, neutral: float = 0.0, gain: float = 1.0
               ) -> DecodedColorizer:
    """The checkpoint's network with its decoding (a classification head's annealed mean at temperature,
    calibration and pool, train.model.Colorizer.decode; defaults: the training config's), in eval mode."""
    config = checkpoint["config"]
    model = Colorizer.from_config(config)
    model.load_state_dict(checkpoint["model"])
    temperature = config.get("temperature", 1.0) if temperature is None else temperature
    calibration = config.get("calibration", 0.0) if calibration is None else calibration
    pool = config.get("pool", 1) if pool is None else pool
    return DecodedColorizer(model, temperature, calibration, pool, confidence, neutral, gain).eval()


def to_onnx(model: DecodedColorizer) -> onnx.ModelProto:
    window = colour.WINDOW
    example = torch.zeros(1, 1, window, window)
    program = torch.onnx.export(
        model, (example,), dynamo=True, opset_version=OPSET, input_names=["L"], output_names=["ab"],
        dynamic_shapes=({0: torch.export.Dim("N", min=1, max=1024)},), external_data=False, verbose=False,
    )
    return without_stack_traces(program.model_proto)


def without_stack_traces(model_proto: onnx.ModelProto) -> onnx.ModelProto:
    """The exported graph without the exporter's per-node stack traces (they name paths on this machine)."""
    for node in model_proto.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    return model_proto


def head_metadata(model: DecodedColorizer) -> dict:
    """The output head and how the exported graph decodes it."""
    if model.model.head == "regression":
        return {"type": "regression", "decoding": "ab_norm directly"}
    return {"type": "classification", "bins": int(model.model.ab_bins.shape[0]), "grid": 10,
            "temperature": model.temperature, "calibration": model.calibration, "pool": model.pool,
            "confidence": model.confidence, "neutral": model.neutral, "gain": model.gain,
            "decoding": "softmax((logits - calibration * log(rebalancing weights)) / temperature) . bin centres at "
                        f"1/{2 * model.pool} size, then bilinear x{2 * model.pool} (annealed mean)"
                        + (f"; the logits averaged over {model.pool} x {model.pool} blocks of the 1/2-size head "
                           "(computed as the head on the averaged features)" if model.pool > 1 else "")
                        + (f"; ab scaled by min(1, m / {model.confidence}), m the probability of the colours near "
                           "it (train.model.Colorizer.decode)" if model.confidence else "")
                        + (f"; a neutral prior {model.neutral} x exp(-|cell|^2 / (2 x {NEUTRAL_RADIUS}^2)) added "
                           "to the logits first" if model.neutral else "")
                        + (f"; ab times {model.gain}" if model.gain != 1 else "")}


def metadata(checkpoint: dict, model: DecodedColorizer | None = None) -> dict:
    config = checkpoint["config"]
    additions = [name for key, name in (("skips", "1/2 and 1/4 encoder skips"), ("global_context", "global context"))
                 if config.get(key)]
    architecture = "resnet18[:6] encoder (1-channel conv1) + conv decoder" + "".join(f" + {a}" for a in additions)
    averaged = {"averaged_from": checkpoint["averaged_from"]} if "averaged_from" in checkpoint else {}
    return {
        "colour_contract": colour.contract_metadata(),
        "model": {"name": "colorize", "architecture": architecture, "runtime_version": __version__},
        "head": head_metadata(model or load_model(checkpoint)),
        "training_step": checkpoint["step"],
        "training_config": config,
        "data": checkpoint.get("data", {"train_folder": config["data"], "val_folder": config["val"]}),
        "val_loss": {"loss": config["loss"], "value": checkpoint["best_val"]},
        "exporter": {"torch": torch.__version__, "onnx_opset": OPSET, "dynamo": True},
    } | averaged


def sample_input(photo: Path) -> np.ndarray:
    """Normalised L [1, 1, 256, 256] of the centre 256 x 256 window of a real photo."""
    return colour.normalise_lightness(colour.lightness(centre_window(photo)))[None, None]


def verify(model_proto: onnx.ModelProto, model: DecodedColorizer, photo: Path) -> dict:
    """onnx.checker, then onnxruntime vs torch (max abs diff on normalised ab) on random input and a photo."""
    onnx.checker.check_model(model_proto, full_check=True)
    session = ort.InferenceSession(model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    inputs = {"random batch of 2": rng.uniform(-1, 1, (2, 1, colour.WINDOW, colour.WINDOW)).astype(np.float32),
              f"photo {photo.name}": sample_input(photo)}
    diffs = {}
    for name, array in inputs.items():
        with torch.no_grad():
            expected = model(torch.from_numpy(array)).numpy()
        got = session.run(None, {"L": array})[0]
        diffs[name] = float(np.abs(got - expected).max())
        if diffs[name] > PARITY_TOLERANCE:
            raise SystemExit(f"export: onnxruntime differs from torch on {name}: {diffs[name]:.2e} "
                             f"> {PARITY_TOLERANCE:.0e}")
    return diffs


def export(checkpoint_path: Path, output: Path, photo: Path = SAMPLE_PHOTO, all_in_one: bool = True,
           temperature: float | None = None, int8: bool = True, calibration: float | None = None,
           pool: int | None = None, confidence: float = 0.0, neutral: float = 0.0, gain: float = 1.0
           ) -> onnx.ModelProto:
    checkpoint = load_checkpoint(checkpoint_path)
    model = load_model(checkpoint, temperature, calibration, pool, confidence, neutral, gain)
    model_proto = to_onnx(model)
    for key, value in metadata(checkpoint, model).items():
        model_proto.metadata_props.add(key=key, value=json.dumps(value))
    diffs = verify(model_proto, model, photo)
    output.parent.mkdir(parents=True, exist_ok=True)
    with files.replacing(output) as temporary:
        onnx.save_model(model_proto, temporary, save_as_external_data=False)
    data = output.read_bytes()
    for name, diff in diffs.items():
        print(f"parity onnxruntime vs torch, {name}: max abs diff {diff:.2e}")
    print(f"wrote {output}: {len(data) / 1e6:.2f} MB, sha256 {hashlib.sha256(data).hexdigest()}")
    if all_in_one:  # the uint8 RGB -> RGB file for apps without OpenCV, beside it (docs/EMBEDDING.md)
        allinone.write(output, photo)
    if int8:
        quantize.quantize(output)  # NAME.int8.onnx beside it, for --precision int8
    return model_proto


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a train/ checkpoint (best.pt or ckpt.pt)")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"default: {DEFAULT_OUTPUT.relative_to(REPOSITORY)} (the model the runtime embeds)")
    parser.add_argument("--photo", type=Path, default=SAMPLE_PHOTO, help="real photo for the parity check")
    parser.add_argument("--temperature", type=float, default=None,
                        help="classification head: the annealed mean's T (default: the training config's)")
    parser.add_argument("--calibration", type=float, default=None,
                        help="classification head: the share of the class rebalancing that decoding divides out "
                             "(default: the training config's)")
    parser.add_argument("--pool", type=int, default=None,
                        help="classification head: decode the logits averaged over N x N blocks, the head at "
                             "1/(2N) size (default: the training config's, else 1)")
    parser.add_argument("--confidence", type=float, default=0.0,
                        help="classification head: mute colours whose probability is below this (0: off; "
                             "train.model.Colorizer.decode)")
    parser.add_argument("--neutral", type=float, default=0.0,
                        help="classification head: a prior for gray added to the logits, so that colours the "
                             "network hesitates over go gray instead of brown (0: off; train.model.Colorizer.decode)")
    parser.add_argument("--gain", type=float, default=1.0, help="classification head: scale the decoded ab")
    parser.add_argument("--no-int8", dest="int8", action="store_false",
                        help="do not also write the int8 file (OUTPUT stem + .int8.onnx)")
    parser.add_argument("--no-all-in-one", dest="all_in_one", action="store_false",
                        help="do not also write the uint8 RGB all-in-one file beside it (export.allinone.allinone_path)")
    args = parser.parse_args(argv)
    export(args.checkpoint, args.output, args.photo, args.all_in_one, args.temperature, args.int8,
           args.calibration, args.pool, args.confidence, args.neutral, args.gain)
