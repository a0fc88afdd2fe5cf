"""Train the colouriser: python -m train --data DIR --val DIR --out DIR [--resume] [--FIELD VALUE ...]."""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from train.data import load_photos, random_crop, centre_crop, to_tensors
from train.model import Colorizer


@dataclass
class Config:
    data: str = "../shared/data/photos/train"
    val: str = "../shared/data/photos/val"
    out: str = "runs/colorize"
    crop: int = 128               # training window side (whole scene down to native detail, see data.random_crop)
    val_crop: int = 256           # validation: centre crop at the runtime's window size
    batch_size: int = 32
    max_steps: int = 20000        # the cosine schedule ends here; --resume with a larger value extends it
    lr: float = 2e-3
    min_lr: float = 2e-5
    warmup_steps: int = 300
    weight_decay: float = 0.0
    loss: str = "mse"             # mse | l1 | huber | logmse, on normalised ab (logmse: see per_photo_log_mse)
    log_mse_floor: float = 1e-4   # logmse: log(MSE + this); larger values weigh nearly gray photos less
    init_from: str = ""           # start from this checkpoint's weights (fresh optimizer and schedule, step 0)
    eval_interval: int = 500
    log_interval: int = 50
    limit_images: int = 0         # 0: all photos; >0: the first N (quick experiments, tests)
    seed: int = 1337
    device: str = "auto"          # auto | cpu | cuda
    threads: int = 0              # 0: torch's default


def learning_rate(config: Config, step: int) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps))
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * progress))


# Squared ab error (normalised units) below which a photo counts as perfect in the validation's gain in dB: ~1
# CIELAB unit of ab RMSE, about the 8-bit rounding error that caps PSNR on RGB anyway.
PERFECT_MSE = 1e-4


def per_photo_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (prediction.float() - target).square().mean(dim=(1, 2, 3))


def per_photo_log_mse(prediction: torch.Tensor, target: torch.Tensor, floor: float = PERFECT_MSE) -> torch.Tensor:
    """Mean over photos of log(MSE + floor): the training counterpart of mean PSNR, which averages log errors per
    photo. Plain MSE lets a few badly coloured photos dominate; this weights each photo's error by 1/(its size +
    floor), so a wrong tint on a nearly gray photo (a large PSNR loss, a small MSE) is no longer cheap."""
    return torch.log(per_photo_mse(prediction, target) + floor).mean()


def loss_fn(config: Config, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    losses = {"mse": F.mse_loss, "l1": F.l1_loss, "huber": lambda p, t: F.huber_loss(p, t, delta=0.1),
              "logmse": lambda p, t: per_photo_log_mse(p, t, config.log_mse_floor)}
    return losses[config.loss](prediction.float(), target)


def save_atomic(obj: dict, path: Path) -> None:
    """Write to a temporary file in the same folder, then rename: a crash never leaves half a checkpoint."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


class Trainer:
    def __init__(self, config: Config, checkpoint: dict | None = None, load_training_photos: bool = True) -> None:
        self.config = config
        torch.manual_seed(config.seed)
        if config.threads:
            torch.set_num_threads(config.threads)
        cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
        self.device = torch.device("cuda" if cuda else "cpu")
        # CPU: bf16 autocast + channels_last (~3x plain fp32 here); CUDA: fp16 AMP with a grad scaler.
        self.amp_dtype = torch.float16 if cuda else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda", enabled=cuda)
        self.model = Colorizer().to(self.device, memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.step, self.best_val = 0, float("inf")
        if checkpoint is None and config.init_from:
            self.model.load_state_dict(load_checkpoint(config.init_from)["model"])
        if checkpoint is not None:
            self.model.load_state_dict(checkpoint["model"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            self.step, self.best_val = checkpoint["step"], checkpoint["best_val"]
        self.out = Path(config.out)
        limit = config.limit_images or None
        self.train_images = load_photos(config.data, limit=limit) if load_training_photos else []
        val_images = load_photos(config.val, limit=limit)
        self.val_batches = [to_tensors([centre_crop(im, config.val_crop) for im in val_images[i:i + 32]])
                            for i in range(0, len(val_images), 32)]
        self.data_summary = {"train_folder": config.data, "train_photos": len(self.train_images),
                             "val_folder": config.val, "val_photos": len(val_images)}
        self.rng = np.random.default_rng([config.seed, self.step])

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def validate(self) -> dict:
        """Mean loss on the val centre crops and the 'no colour' (ab = 0) loss as the floor to beat; whatever the
        training loss, also the plain MSE, the mean per-photo gain over no colour in dB (what PSNR rewards) and the
        mean per-photo chroma ratio (predicted over true mean chroma: low means sepia or gray)."""
        self.model.eval()
        totals = dict.fromkeys(["val_loss", "val_loss_no_colour", "val_mse", "val_mse_no_colour", "val_gain_db",
                                "val_chroma_ratio"], 0.0)
        count = 0
        for lightness, ab in self.val_batches:
            with self._autocast():
                prediction = self.model(self._to_device(lightness)).float()
            ab, no_colour = ab.to(self.device), torch.zeros_like(ab, device=self.device)
            mse, mse_no_colour = per_photo_mse(prediction, ab), per_photo_mse(no_colour, ab)
            totals["val_loss"] += loss_fn(self.config, prediction, ab).item() * len(ab)
            totals["val_loss_no_colour"] += loss_fn(self.config, no_colour, ab).item() * len(ab)
            totals["val_mse"] += mse.sum().item()
            totals["val_mse_no_colour"] += mse_no_colour.sum().item()
            totals["val_gain_db"] += (10 * torch.log10((mse_no_colour + PERFECT_MSE) / (mse + PERFECT_MSE))).sum().item()
            chroma, true_chroma = (x.square().sum(dim=1).sqrt().mean(dim=(1, 2)) for x in (prediction, ab))
            totals["val_chroma_ratio"] += (chroma / true_chroma.clamp_min(1e-6)).sum().item()
            count += len(ab)
        self.model.train()
        return {key: value / count for key, value in totals.items()}

    def checkpoint(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "config": asdict(self.config), "step": self.step, "best_val": self.best_val,
                "data": self.data_summary}

    def train_step(self) -> float:
        config = self.config
        picks = self.rng.integers(0, len(self.train_images), config.batch_size)
        lightness, ab = to_tensors([random_crop(self.train_images[i], config.crop, self.rng) for i in picks])
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(config, self.step)
        with self._autocast():
            prediction = self.model(self._to_device(lightness))
        loss = loss_fn(config, prediction, ab.to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        return loss.item()

    def run(self) -> None:
        config, log_path = self.config, self.out / "log.jsonl"
        self.out.mkdir(parents=True, exist_ok=True)
        self.model.train()
        start, running = time.time(), []
        with open(log_path, "a") as log, tqdm(initial=self.step, total=config.max_steps, unit="step") as bar:
            while self.step < config.max_steps:
                running.append(self.train_step())
                bar.update(1)
                record = None
                if self.step % config.log_interval == 0:
                    record = {"step": self.step, "train_loss": float(np.mean(running)),
                              "lr": learning_rate(config, self.step - 1), "crop": config.crop,
                              "elapsed_s": round(time.time() - start, 1)}
                    running = []
                    bar.set_postfix(loss=f"{record['train_loss']:.4f}")
                if self.step % config.eval_interval == 0 or self.step == config.max_steps:
                    record = (record or {"step": self.step}) | self.validate()
                    improved = record["val_loss"] < self.best_val
                    if improved:
                        self.best_val = record["val_loss"]
                    save_atomic(self.checkpoint(), self.out / "ckpt.pt")
                    if improved:
                        save_atomic(self.checkpoint(), self.out / "best.pt")
                    bar.write(f"step {self.step}: val {record['val_loss']:.5f} "
                              f"(no colour {record['val_loss_no_colour']:.5f}, best {self.best_val:.5f}), "
                              f"gain over no colour {record['val_gain_db']:+.2f} dB, "
                              f"chroma ratio {record['val_chroma_ratio']:.2f}")
                if record:
                    log.write(json.dumps(record) + "\n")
                    log.flush()


def parse_args(argv: list[str] | None = None) -> tuple[dict, bool]:
    """Command-line overrides of Config (only the fields given) and the --resume flag."""
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    for field in dataclasses.fields(Config):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=str,
                            default=None, help=f"default: {field.default}")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt (step, optimizer, config)")
    parser.add_argument("--validate", action="store_true",
                        help="print the validation numbers (JSON) of the --init-from weights, or of OUT/ckpt.pt with "
                             "--resume, and exit without training")
    args = vars(parser.parse_args(argv))
    resume, validate = args.pop("resume"), args.pop("validate")
    types = {f.name: {"int": int, "float": float, "str": str}[f.type] for f in dataclasses.fields(Config)}
    return {k: types[k](v) for k, v in args.items() if v is not None}, resume, validate


def main(argv: list[str] | None = None) -> None:
    overrides, resume, validate = parse_args(argv)
    config = Config(**overrides)
    checkpoint = None
    if resume:
        checkpoint = load_checkpoint(Path(config.out) / "ckpt.pt")
        config = Config(**(checkpoint["config"] | overrides))
    if validate:
        print(json.dumps(Trainer(config, checkpoint, load_training_photos=False).validate()))
        return
    Trainer(config, checkpoint).run()
