"""Train the guided network's hint branches on a frozen classification colouriser:
python -m train.train_guided --init-from runs/cls_shipped.pt --out runs/guided [--resume] [--FIELD VALUE ...].

Each training window is the runtime's view of a photo (data.runtime_view) with hints simulated from its truth
(guided.simulate_points: a geometric number of points; guided.ab_distribution: its own colour distribution, or
another photo's, as a reference). Windows with no hint at all are not drawn: the guided network equals the base
there by construction. The loss is the base's rebalanced cross-entropy at the shipped head size plus an L1 on the
decoded ab, so that the shipped decoding lands on the pinned colour.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass, asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from colorize_runtime.colour import AB_SCALE, WINDOW
from colorize_runtime.guided import ab_distribution
from train import bins
from train.data import load_photos, runtime_view, to_tensors, valid_masks
from train.guided import GuidedColorizer, simulate_points
from train.model import Colorizer
from train.train import load_checkpoint, masked_mean, save_atomic


@dataclass
class GuidedConfig:
    data: str = "../shared/data/photos/train"
    val: str = "../shared/data/photos/val"
    out: str = "runs/guided"
    init_from: str = "runs/cls_shipped.pt"  # the classification checkpoint to steer (python -m train.from_onnx)
    init_from_guided: str = ""    # a guided checkpoint whose branches start this run (those that still fit)
    crop: int = 160               # the runtime view's short side (the runtime's default --size)
    batch_size: int = 16
    max_steps: int = 3000
    lr: float = 1e-3
    min_lr: float = 2e-5
    warmup_steps: int = 100
    point_probability: float = 0.125  # points per window ~ geometric with this p (mean 8), as Zhang 2017 ...
    no_points: float = 0.2        # ... and this share of windows without points (global hint only)
    max_points: int = 60
    own_reference: float = 0.35   # the global hint is the window's own colour distribution ...
    other_reference: float = 0.15  # ... or another training photo's (hints that do not fit must not harm)
    ab_l1: float = 5.0            # weight of the L1 between the decoded and the true normalised ab
    temperature: float = 0.38     # the default file's decoding (natural), which the L1 sees
    calibration: float = 0.23
    confidence: float = 0.6
    pool: int = 2
    eval_interval: int = 250
    log_interval: int = 25
    val_photos: int = 96
    seed: int = 7
    threads: int = 2


def learning_rate(config: GuidedConfig, step: int) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps))
    return float(config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + np.cos(np.pi * progress)))


def base_from_checkpoint(path: str) -> Colorizer:
    checkpoint = load_checkpoint(path)
    base = Colorizer.from_config(checkpoint["config"])
    base.load_state_dict(checkpoint["model"])
    return base


class GuidedTrainer:
    def __init__(self, config: GuidedConfig, checkpoint: dict | None = None) -> None:
        self.config = config
        torch.manual_seed(config.seed)
        torch.set_num_threads(config.threads)
        self.model = GuidedColorizer(base_from_checkpoint(config.init_from))
        if checkpoint is not None:
            self.model.load_state_dict(checkpoint["model"])
        elif config.init_from_guided:
            self.warm_start(load_checkpoint(config.init_from_guided)["model"])
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.trainable, lr=config.lr, weight_decay=0.0)
        if checkpoint is not None:
            self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.step = checkpoint["step"] if checkpoint else 0
        self.best_val = checkpoint["best_val"] if checkpoint else float("inf")
        self.centres = self.model.base.ab_bins.numpy() * AB_SCALE
        self.soft_table = bins.soft_encoding_table(self.centres)
        self.photos = load_photos(config.data)
        self.rng = np.random.default_rng([config.seed, self.step])
        val_rng = np.random.default_rng(12345)  # the same validation windows and hints every time
        val_photos = load_photos(config.val)[:config.val_photos]
        self.val_batches = [self.make_batch([val_photos[i] for i in range(start, min(start + 16, len(val_photos)))],
                                            val_rng, val_photos) for start in range(0, len(val_photos), 16)]

    def warm_start(self, state: dict) -> None:
        """The branches of an earlier guided network that fit this one: same-shaped weights as they are, a 3 x 3
        conv's centre tap for a 1 x 1 conv; new branches keep their zero start. Prints what did not carry over."""
        own = self.model.branches()
        carried = {}
        for name, value in own.items():
            old = state.get(name)
            if old is not None and old.shape == value.shape:
                carried[name] = old
            elif old is not None and old.dim() == 4 and old.shape[:2] == value.shape[:2] and value.shape[2:] == (1, 1):
                carried[name] = old[:, :, old.shape[2] // 2, old.shape[3] // 2, None, None].clone()
        self.model.load_state_dict(carried, strict=False)
        print(json.dumps({"warm_start": self.config.init_from_guided, "new": sorted(set(own) - set(carried)),
                          "dropped": sorted(k for k in state if not k.startswith("base.") and k not in own)}))

    def make_batch(self, photos: list[np.ndarray], rng: np.random.Generator, references: list[np.ndarray]) -> dict:
        config = self.config
        windows, sizes = map(list, zip(*(runtime_view(photo, config.crop, WINDOW, rng) for photo in photos)))
        lightness, target = to_tensors(windows)
        hints = np.zeros((len(windows), 3, WINDOW, WINDOW), np.float32)
        global_hints = np.zeros((len(windows), len(self.centres)), np.float32)
        for i, (ab, (h, w)) in enumerate(zip(target.numpy(), sizes)):
            while not hints[i, 2].any() and not global_hints[i].any():
                if rng.random() >= config.no_points:
                    count = min(config.max_points, int(rng.geometric(config.point_probability)))
                    hints[i] = simulate_points(ab, (h, w), count, rng)
                draw = rng.random()
                if draw < config.own_reference:
                    global_hints[i] = ab_distribution(ab[:, :h, :w].transpose(1, 2, 0) * AB_SCALE, self.centres)
                elif draw < config.own_reference + config.other_reference:
                    other, _ = runtime_view(references[int(rng.integers(len(references)))], config.crop, WINDOW)
                    other_ab = to_tensors([other])[1][0].numpy()
                    global_hints[i] = ab_distribution(other_ab.transpose(1, 2, 0) * AB_SCALE, self.centres)
        return {"lightness": lightness, "target": target, "mask": valid_masks(sizes, WINDOW),
                "hints": torch.from_numpy(hints), "global_hint": torch.from_numpy(global_hints)}

    def loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(rebalanced cross-entropy at the head's size, L1 of the decoded ab), both over the photo's pixels."""
        config, base = self.config, self.model.base
        logits = self.model(batch["lightness"], batch["hints"], batch["global_hint"], config.pool)
        factor = WINDOW // logits.shape[-1]
        target = F.avg_pool2d(batch["target"], factor)
        indices, weights = bins.soft_targets(target, self.soft_table)
        cross_entropy = -(torch.log_softmax(logits, dim=1).gather(1, indices) * weights).sum(dim=1, keepdim=True)
        small_mask = (F.avg_pool2d(batch["mask"], factor) > 0.5).float()
        rebalanced = masked_mean(cross_entropy * base.class_weights[indices[:, :1]], small_mask)
        ab = base.decode_pooled(logits, config.temperature, config.calibration, config.pool, config.confidence)
        l1 = masked_mean((ab - batch["target"]).abs(), batch["mask"].expand_as(ab))
        return rebalanced, l1

    @torch.no_grad()
    def validate(self) -> dict:
        self.model.eval()
        totals = np.zeros(2)
        for batch in self.val_batches:
            totals += [value.item() for value in self.loss(batch)]
        self.model.train()
        cross_entropy, l1 = (float(x) for x in totals / len(self.val_batches))
        return {"val_ce": cross_entropy, "val_l1_ab": l1 * AB_SCALE, "val_loss": cross_entropy + self.config.ab_l1 * l1}

    def checkpoint(self) -> dict:
        return {"model": self.model.state_dict(), "trained_keys": sorted(self.model.branches()), "optimizer":
                self.optimizer.state_dict(), "config": asdict(self.config), "step": self.step,
                "best_val": self.best_val}

    def run(self) -> None:
        config, out = self.config, Path(self.config.out)
        out.mkdir(parents=True, exist_ok=True)
        self.model.train()
        start, running = time.time(), []
        with open(out / "log.jsonl", "a") as log:
            while self.step < config.max_steps:
                picks = self.rng.integers(0, len(self.photos), config.batch_size)
                batch = self.make_batch([self.photos[i] for i in picks], self.rng, self.photos)
                for group in self.optimizer.param_groups:
                    group["lr"] = learning_rate(config, self.step)
                cross_entropy, l1 = self.loss(batch)
                loss = cross_entropy + config.ab_l1 * l1
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                self.step += 1
                running.append([cross_entropy.item(), l1.item() * AB_SCALE])
                record = None
                if self.step % config.log_interval == 0:
                    ce, l1_ab = (float(x) for x in np.mean(running, axis=0))
                    record = {"step": self.step, "train_ce": ce, "train_l1_ab": l1_ab,
                              "lr": learning_rate(config, self.step - 1), "elapsed_s": round(time.time() - start, 1)}
                    running = []
                if self.step % config.eval_interval == 0 or self.step == config.max_steps:
                    record = (record or {"step": self.step}) | self.validate()
                    save_atomic(self.checkpoint(), out / "ckpt.pt")
                    if record["val_loss"] < self.best_val:
                        self.best_val = record["val_loss"]
                        save_atomic(self.checkpoint(), out / "best.pt")
                if record:
                    print(json.dumps(record), flush=True)
                    log.write(json.dumps(record) + "\n")
                    log.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m train.train_guided", description=__doc__)
    for field in dataclasses.fields(GuidedConfig):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=None)
    parser.add_argument("--resume", action="store_true", help="continue OUT/ckpt.pt (its config, these overrides)")
    args = vars(parser.parse_args(argv))
    resume = args.pop("resume")
    overrides = {key: value for key, value in args.items() if value is not None}
    checkpoint = None
    if resume:
        checkpoint = load_checkpoint(Path(overrides.get("out", GuidedConfig.out)) / "ckpt.pt")
        config = GuidedConfig(**(checkpoint["config"] | overrides))
    else:
        config = GuidedConfig(**overrides)
    GuidedTrainer(config, checkpoint).run()


if __name__ == "__main__":
    main()
