"""Recover a training checkpoint from a shipped ONNX file: python -m train.from_onnx MODEL.onnx OUT.pt [--data DIR].

The exporter folds every BatchNorm into the conv before it (conv weight scaled, a bias added), so the file holds
the network's function but not its BatchNorm statistics. This unfolds them: each BatchNorm gets the per-channel
mean and variance of its conv's output on real photos as running statistics, and the affine parameters that
make it reproduce the folded conv exactly in eval mode (gamma = sqrt(var + eps), beta = bias + mean). In training
mode the batch statistics are close to those, so fine-tuning starts from the shipped function. It is how a model
trained from scratch in an earlier session, whose checkpoint is gone, becomes the starting point of a new run.

A classification file's decoding is in its graph too: the ab cells are the weight of the conv that takes the
expectation (train.model._expectation), and the rebalancing weights w come out of the constant the calibration
subtracts (c log w). The recovered network is checked against the file through the same decoding
(model.DecodedColorizer with the file's T, c and pool).

The guided file (models/colorize_guided.onnx) holds no BatchNorm of its own: its hint branches are read back as they
are, around a base checkpoint recovered from the default file first (--base), and checked against the file with
points and with a global hint: `python -m train.from_onnx models/colorize_guided.onnx runs/guided.pt --base
runs/cls_shipped.pt` gives the checkpoint a new `python -m train.train_guided --init-from-guided runs/guided.pt`
run starts from: the network as trained, the file's reference strength (export.guided --reference-strength)
divided out, so that exporting it again gives the file.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

from colorize_runtime.colour import WINDOW
from train.data import load_photos, runtime_view, to_tensors
from train.guided import DecodedGuidedColorizer, GuidedColorizer, simulate_points
from train.model import Colorizer, DecodedColorizer
from train.train import Config, save_atomic
from train.train_guided import base_from_checkpoint

CALIBRATION_PHOTOS = 256


def _conv_to_batchnorm(model: Colorizer) -> dict[str, str]:
    """Name of each conv followed by a BatchNorm -> that BatchNorm's name."""
    pairs, previous = {}, None
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.BatchNorm2d) and previous is not None:
            pairs[previous] = name
        previous = name if isinstance(module, torch.nn.Conv2d) else None
    return pairs


def _decoding_constants(proto: onnx.ModelProto, bins: int, calibration: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A classification graph's ab cells (normalised, [Q, 2]) and rebalancing weights ([Q]), read off its
    constants: the expectation conv's weight [3, Q, 1, 1] (a, b, ones) and the [1, Q, 1, 1] c log w that Sub takes
    from the logits."""
    constants = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    kernels = [constants[n.input[1]] for n in proto.graph.node
               if n.op_type == "Conv" and constants.get(n.input[1], np.empty(0)).shape == (3, bins, 1, 1)]
    shifts = [constants[n.input[1]] for n in proto.graph.node
              if n.op_type == "Sub" and constants.get(n.input[1], np.empty(0)).shape == (1, bins, 1, 1)]
    if len(kernels) != 1 or len(shifts) != 1 or not calibration:
        raise ValueError("cannot find the ab cells and rebalancing weights in the graph (a file exported with "
                         "calibration 0 holds no weights)")
    ab_bins = torch.from_numpy(kernels[0][:2, :, 0, 0].T.copy())
    class_weights = torch.from_numpy(np.exp(shifts[0].ravel().astype(np.float64) / calibration).astype(np.float32))
    return ab_bins, class_weights


def recover(onnx_path: Path, data: str, size: int = 160) -> tuple[Colorizer, dict]:
    """The ONNX file's network as a torch Colorizer with unfolded BatchNorms, and the file's metadata."""
    proto = onnx.load(str(onnx_path))
    meta = {p.key: json.loads(p.value) for p in proto.metadata_props}
    # an export of DecodedColorizer names the network's weights "model.NAME"
    weights = {i.name.removeprefix("model."): torch.from_numpy(numpy_helper.to_array(i).copy())
               for i in proto.graph.initializer}
    model = Colorizer.from_config(meta["training_config"]).eval()
    head = meta.get("head", {"type": "regression"})
    if model.head == "classification":
        ab_bins, class_weights = _decoding_constants(proto, head["bins"], head["calibration"])
        model.ab_bins.copy_(ab_bins)
        model.class_weights.copy_(class_weights)
    decoded = DecodedColorizer(model, head.get("temperature", 1.0), head.get("calibration", 0.0),
                               head.get("pool", 1), head.get("confidence", 0.0), head.get("neutral", 0.0),
                               head.get("gain", 1.0))
    pairs = _conv_to_batchnorm(model)
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name in weights:
                parameter.copy_(weights[name])
        for conv, norm in pairs.items():
            bn = modules[norm]
            bn.running_mean.zero_()
            bn.running_var.fill_(1)
            bn.weight.fill_(float(np.sqrt(1 + bn.eps)))
            bn.bias.copy_(weights[f"{conv}.weight_bias"])
    # each BatchNorm's input (its conv's output) on real photos, the network behaving as the ONNX file
    photos = load_photos(data, limit=CALIBRATION_PHOTOS)
    lightness, _ = to_tensors([runtime_view(p, size, WINDOW)[0] for p in photos])
    inputs: dict[str, list[torch.Tensor]] = {norm: [] for norm in pairs.values()}
    hooks = [modules[norm].register_forward_hook(lambda m, args, out, norm=norm: inputs[norm].append(args[0]))
             for norm in inputs]
    with torch.no_grad():
        for batch in lightness.split(32):
            model(batch)
        for hook in hooks:
            hook.remove()
        for norm, values in inputs.items():
            x = torch.cat(values).transpose(0, 1).flatten(1)
            mean, var, bn = x.mean(1), x.var(1), modules[norm]
            bn.bias.add_(mean)
            bn.weight.copy_((var + bn.eps).sqrt())
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    sample = lightness[:4].numpy()
    with torch.no_grad():
        difference = np.abs(decoded(torch.from_numpy(sample)).numpy() - session.run(None, {"L": sample})[0]).max()
    if difference > 1e-3:
        raise SystemExit(f"from_onnx: the recovered network differs from {onnx_path} by {difference:.2e}")
    print(f"recovered {onnx_path}: max abs difference to onnxruntime {difference:.1e} on {len(sample)} windows")
    return model, meta


def recover_guided(onnx_path: Path, base_checkpoint: str) -> tuple[GuidedColorizer, dict]:
    """The guided file's hint branches around the base checkpoint's network, checked against onnxruntime."""
    proto = onnx.load(str(onnx_path))
    meta = {p.key: json.loads(p.value) for p in proto.metadata_props}
    model = GuidedColorizer(base_from_checkpoint(base_checkpoint)).eval()
    weights = {i.name.removeprefix("model."): torch.from_numpy(numpy_helper.to_array(i).copy())
               for i in proto.graph.initializer}
    missing = sorted(set(model.branches()) - set(weights))
    if missing:
        raise ValueError(f"{onnx_path} lacks the guided weights {missing[:3]}")
    model.load_state_dict({name: weights[name] for name in model.branches()}, strict=False)
    head = meta["head"]  # how the file decodes (the default file's decoding)
    decoded = DecodedGuidedColorizer(model, head["temperature"], head["calibration"], head["pool"],
                                     head.get("confidence", 0.0), head.get("neutral", 0.0),
                                     head.get("gain", 1.0)).eval()
    rng = np.random.default_rng(0)
    lightness = rng.uniform(-1, 1, (2, 1, WINDOW, WINDOW)).astype(np.float32)
    target = rng.uniform(-0.5, 0.5, (2, WINDOW, WINDOW)).astype(np.float32)
    hints = np.stack([simulate_points(target, (WINDOW, WINDOW), 10, rng)] * 2)
    cells = model.base.ab_bins.shape[0]
    global_hint = np.stack([rng.dirichlet(np.ones(cells)), np.zeros(cells)]).astype(np.float32)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ours = decoded(*map(torch.from_numpy, (lightness, hints, global_hint)))[0].numpy()
    difference = np.abs(ours - session.run(["ab"], {"L": lightness, "hints": hints, "global_hint": global_hint})[0])
    if difference.max() > 1e-3:
        raise SystemExit(f"from_onnx: the recovered guided network differs from {onnx_path} by "
                         f"{difference.max():.2e} (is --base the network the file was trained on?)")
    print(f"recovered {onnx_path}: max abs difference to onnxruntime {difference.max():.1e} with points and a "
          "global hint")
    # the network as trained: export.guided applies the file's reference strength again
    model.scale_reference(1 / meta["hints"].get("reference_strength", 1.0))
    return model, meta


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m train.from_onnx", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="a colorize .onnx file written by python -m export")
    parser.add_argument("out", type=Path, help="the checkpoint to write (for --init-from)")
    parser.add_argument("--data", default=Config.data, help="photos for the BatchNorm statistics")
    parser.add_argument("--base", help="the guided file only: the checkpoint recovered from the default file")
    args = parser.parse_args(argv)
    if args.base:
        guided_model, meta = recover_guided(args.model, args.base)
        trained = meta["guided_training"]
        checkpoint = {"model": guided_model.state_dict(), "optimizer": {}, "config": trained["config"] | {
            "init_from": args.base}, "step": trained["step"], "best_val": trained["best_val"],
            "recovered_from": str(args.model)}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        save_atomic(checkpoint, args.out)
        print(f"wrote {args.out}")
        return
    model, meta = recover(args.model, args.data)
    config = meta["training_config"] | {"init_from": ""}
    checkpoint = {"model": model.state_dict(), "optimizer": {}, "config": config, "step": meta["training_step"],
                  "best_val": meta["val_loss"]["value"], "recovered_from": str(args.model)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(checkpoint, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
