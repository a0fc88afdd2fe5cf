"""Average the weights of checkpoints of one architecture ("model soup"):
python -m train.average OUT.pt CKPT CKPT [...] [--val DIR] [--val-size PX].

Fine-tunes that start from the same weights stay in one basin of the loss, so their mean is a network too, and
usually a better one than each: their checkpoint-to-checkpoint noise averages out (Wortsman et al. 2022, "Model
soups"). The result is a checkpoint that `python -m export` takes: its step is the largest of theirs,
averaged_from lists them, and its best_val is the averaged weights' own validation loss, measured here with the
first checkpoint's config (its loss, --val and --val-size unless given)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from train.train import Config, Trainer, load_checkpoint, save_atomic


def average_weights(state_dicts: list[dict]) -> dict:
    """Element-wise mean of state dicts with the same keys and shapes; integer entries (BatchNorm's
    num_batches_tracked) are rounded back to their type."""
    keys = list(state_dicts[0])
    for state in state_dicts[1:]:
        if list(state) != keys or any(state[k].shape != state_dicts[0][k].shape for k in keys):
            raise ValueError("checkpoints of different architectures cannot be averaged")
    mean = {}
    for key in keys:
        first = state_dicts[0][key]
        value = torch.stack([state[key].double() for state in state_dicts]).mean(dim=0)
        mean[key] = (value if first.is_floating_point() else value.round()).to(first.dtype)
    return mean


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m train.average", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the averaged checkpoint to write")
    parser.add_argument("checkpoints", type=Path, nargs="+", help="checkpoints (ckpt.pt or best.pt) to average")
    parser.add_argument("--val", help="validation photos (default: the first checkpoint's)")
    parser.add_argument("--val-size", type=int, help="validation --size (default: the first checkpoint's)")
    args = parser.parse_args(argv)
    if len(args.checkpoints) < 2:
        parser.error("give at least two checkpoints")
    checkpoints = [load_checkpoint(path) for path in args.checkpoints]
    overrides = {key: value for key, value in (("val", args.val), ("val_size", args.val_size)) if value is not None}
    # init_from the first checkpoint: a classification model's cells and weights come with it (not from photos)
    config = Config(**(checkpoints[0]["config"] | overrides | {"init_from": str(args.checkpoints[0])}))
    trainer = Trainer(config, load_training_photos=False)
    trainer.model.load_state_dict(average_weights([c["model"] for c in checkpoints]))
    numbers = trainer.validate()
    averaged = {"model": trainer.model.state_dict(), "config": checkpoints[0]["config"] | overrides,
                "step": max(c["step"] for c in checkpoints), "best_val": numbers["val_loss"],
                "averaged_from": [str(path) for path in args.checkpoints]}
    if "data" in checkpoints[0]:
        averaged["data"] = checkpoints[0]["data"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(averaged, args.out)
    print(json.dumps(numbers))
    return numbers


if __name__ == "__main__":
    main()
