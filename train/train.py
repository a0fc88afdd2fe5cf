"""Train the colouriser: python -m train --data DIR --val DIR --out DIR [--resume] [--FIELD VALUE ...]."""
from __future__ import annotations

import argparse
import dataclasses
import functools
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

from colorize_runtime.colour import AB_SCALE, WINDOW
from train import bins
from train import distributed
from train.colour_torch import lab_to_bgr
from train.data import gray_lightness_and_bgr, load_photos, random_crop, runtime_view, to_tensors, valid_masks
from train.model import Colorizer


@dataclass
class Config:
    data: str = "../shared/data/photos/train"
    val: str = "../shared/data/photos/val"
    out: str = "runs/colorize"
    view: str = "crop"            # training windows: crop (data.random_crop: crop x crop, whole scene down to native
                                  # detail) | runtime (data.runtime_view: the photo at short side crop, 256 window)
    crop: int = 128
    val_size: int = 128           # validation: the runtime's view of each val photo at this --size (data.runtime_view)
    batch_size: int = 32
    max_steps: int = 20000        # the cosine schedule ends here; --resume with a larger value extends it
    lr: float = 2e-3
    min_lr: float = 2e-5
    warmup_steps: int = 300
    weight_decay: float = 0.0
    head: str = "regression"      # regression (ab directly) | classification (ab cells, train/bins.py)
    loss: str = "mse"             # regression: mse | l1 | huber | logmse | distance on normalised ab; logmse_rgb on
                                  # RGB; rebalanced_logmse (logmse with each pixel weighted by its true colour's
                                  # rebalancing weight). classification: always the rebalanced cross-entropy
    num_bins: int = 0             # classification: the ab cells found in the training photos (set by training)
    rebalance: float = 0.5        # classification and rebalanced_logmse: Zhang's lambda, the uniform share of the
                                  # rebalancing prior (0: full inverse frequency, 1: no rebalancing)
    temperature: float = 0.38     # classification: the annealed mean's T in validation (export chooses its own)
    calibration: float = 0.0      # classification: how much of the rebalancing decoding divides out (model.decode)
    pool: int = 1                 # classification: the head runs on features averaged over pool x pool blocks
                                  # (logits at 1/(2 pool) size), in training's loss, validation and decoding:
                                  # what export --pool ships, cheaper to train and to run (model.forward)
    log_mse_floor: float = 1e-4   # logmse(_rgb): log(MSE + this); larger values weigh nearly gray photos less
    lightness: str = "colour"     # the model's input L: the photo's own (colour) or its BGR2GRAY version's (gray)
    global_context: int = 0       # 1: the decoder also gets the window's mean features (model.Colorizer)
    skips: int = 0                # 1: the decoder also gets the encoder's 1/2 and 1/4 size features
    init_from: str = ""           # start from this checkpoint's weights (fresh optimizer and schedule, step 0)
    freeze_encoder: int = 0       # 1: train the decoder (and head) only; the encoder and its BatchNorm statistics
                                  # stay as initialised (~1.7x faster steps: no backward pass through it)
    eval_interval: int = 500
    log_interval: int = 50
    limit_images: int = 0         # 0: all photos; >0: the first N (quick experiments, tests)
    seed: int = 1337
    device: str = "auto"          # auto | cpu | cuda
    threads: int = 0              # 0: torch's default
    world_size: int = 1           # set by training: torchrun's processes (train/distributed.py), recorded here
    global_batch: int = 0         # set by training: batch_size x world_size


def learning_rate(config: Config, step: int) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps))
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * progress))


# Squared ab error (normalised units) below which a photo counts as perfect in the validation's gain in dB: ~1
# CIELAB unit of ab RMSE, about the 8-bit rounding error that caps PSNR on RGB anyway.
PERFECT_MSE = 1e-4


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None, dim: tuple[int, ...] | None = None) -> torch.Tensor:
    """Mean over dim (None: all) of values [N, C, H, W], only where mask [N, 1, H, W] is 1 (None: everywhere)."""
    if mask is None:
        return values.mean(dim=dim)
    mask = mask.expand_as(values)
    return (values * mask).sum(dim=dim) / mask.sum(dim=dim)


def per_photo_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    return masked_mean((prediction.float() - target).square(), mask, dim=(1, 2, 3))


def per_photo_log_mse(prediction: torch.Tensor, target: torch.Tensor, floor: float = PERFECT_MSE,
                      mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over photos of log(MSE + floor): the training counterpart of mean PSNR, which averages log errors per
    photo. Plain MSE lets a few badly coloured photos dominate; this weights each photo's error by 1/(its size +
    floor), so a wrong tint on a nearly gray photo (a large PSNR loss, a small MSE) is no longer cheap."""
    return torch.log(per_photo_mse(prediction, target, mask) + floor).mean()


def per_photo_distance(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
                       ) -> torch.Tensor:
    """Mean over photos of the mean Euclidean ab error: what AuC measures (AuC = 1 - mean min(error, 150) / 150),
    so this loss aims at AuC as logmse aims at PSNR. The tiny epsilon keeps the gradient finite at zero error."""
    error = (prediction.float() - target).square().sum(dim=1, keepdim=True).add(1e-8).sqrt()
    return masked_mean(error, mask, dim=(1, 2, 3)).mean()


def per_photo_rebalanced_log_mse(prediction: torch.Tensor, target: torch.Tensor, pixel_weights: torch.Tensor,
                                 floor: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """per_photo_log_mse with each pixel's squared error weighted by pixel_weights [N, 1, H, W] (its true colour's
    rebalancing weight), a weighted mean within each photo: a photo's rare, saturated colours count as much as its
    common dull ones, which is what the rebalanced AuC scores, while a nearly gray photo (all its weights alike)
    is scored as plain logmse scores it."""
    weights = pixel_weights if mask is None else pixel_weights * mask
    squared = (prediction.float() - target).square().mean(dim=1, keepdim=True)
    mse = (squared * weights).sum(dim=(1, 2, 3)) / weights.sum(dim=(1, 2, 3)).clamp_min(1e-12)
    return torch.log(mse + floor).mean()


def colourfulness(bgr: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-photo Hasler & Suesstrunk colourfulness of BGR [N, 3, H, W] in [0, 1] where mask is 1, in 0..255 units
    (train.evaluate.colourfulness on the photo's pixels)."""
    blue, green, red = (bgr * 255).unbind(dim=1)
    rg, yb = (red - green)[:, None], (0.5 * (red + green) - blue)[:, None]
    mean_rg, mean_yb = masked_mean(rg, mask, dim=(1, 2, 3)), masked_mean(yb, mask, dim=(1, 2, 3))
    std_rg = masked_mean((rg - mean_rg[:, None, None, None]).square(), mask, dim=(1, 2, 3)).sqrt()
    std_yb = masked_mean((yb - mean_yb[:, None, None, None]).square(), mask, dim=(1, 2, 3)).sqrt()
    return torch.hypot(std_rg, std_yb) + 0.3 * torch.hypot(mean_rg, mean_yb)


def rgb_from_prediction(prediction: torch.Tensor, gray_lightness: torch.Tensor) -> torch.Tensor:
    """The BGR [0, 1] the runtime writes for a gray photo: its L with the predicted (normalised) ab."""
    return lab_to_bgr(gray_lightness, prediction.float() * AB_SCALE)


def loss_fn(config: Config, prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
            gray_lightness: torch.Tensor | None = None, bgr: torch.Tensor | None = None) -> torch.Tensor:
    """The training loss on normalised ab where mask is 1; logmse_rgb instead scores the colours the runtime would
    write for the gray photo (gray_lightness, 0..100) against the true bgr, per photo as PSNR on RGB does."""
    if config.loss == "logmse_rgb":
        return per_photo_log_mse(rgb_from_prediction(prediction, gray_lightness), bgr, config.log_mse_floor, mask)
    if config.loss == "logmse":
        return per_photo_log_mse(prediction, target, config.log_mse_floor, mask)
    if config.loss == "distance":
        return per_photo_distance(prediction, target, mask)
    elementwise = {"mse": F.mse_loss, "l1": F.l1_loss, "huber": functools.partial(F.huber_loss, delta=0.1)}
    return masked_mean(elementwise[config.loss](prediction.float(), target, reduction="none"), mask)


def make_batch(config: Config, windows: list[np.ndarray], sizes: list[tuple[int, int]] | None,
               with_rgb: bool) -> dict[str, torch.Tensor]:
    """The model's input ("lightness") and what loss_fn takes: the target ab, the mask of the photo inside
    runtime-view windows (sizes), and with_rgb the gray photo's L and the true BGR."""
    lightness, target = to_tensors(windows, config.lightness)
    batch = {"lightness": lightness, "target": target}
    if sizes is not None:
        batch["mask"] = valid_masks(sizes, windows[0].shape[0])
    if with_rgb:
        batch["gray_lightness"], batch["bgr"] = gray_lightness_and_bgr(windows)
    return batch


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
        self.process = distributed.start(cuda)  # torchrun's processes; a plain run is rank 0 of 1
        self.device = self.process.device(cuda)
        config.world_size, config.global_batch = self.process.world_size, config.batch_size * self.process.world_size
        # CUDA: fp16 AMP with a grad scaler. CPU: bf16 autocast + channels_last where the CPU has bf16 instructions
        # (AVX512-BF16 or AMX: ~3x plain fp32); on an AVX2-only CPU bf16 is emulated, 5-50x slower (measured on an
        # AMD EPYC without AVX-512), so plain fp32 there.
        self.amp_dtype = torch.float16 if cuda else torch.bfloat16
        self.amp = cuda or torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        self.scaler = torch.amp.GradScaler("cuda", enabled=cuda)
        self.out = Path(config.out)
        limit = config.limit_images or None
        self.train_images = load_photos(config.data, limit=limit) if load_training_photos else []
        initial = load_checkpoint(config.init_from) if checkpoint is None and config.init_from else None
        fresh_bins = None
        if config.head == "classification" and checkpoint is None and not self._init_has_bins(initial):
            # the cells and their weights come from the training photos once; later runs inherit them
            fresh_bins = bins.bins_and_weights(bins.ab_histogram(self.train_images), config.rebalance)
            config.num_bins = len(fresh_bins[0])
        self.model = Colorizer.from_config(asdict(config))
        if fresh_bins is not None:
            centres, _, weights = fresh_bins
            self.model.ab_bins.copy_(torch.from_numpy(centres / AB_SCALE))
            self.model.class_weights.copy_(torch.from_numpy(weights))
        self.model.to(self.device, memory_format=torch.channels_last)
        self.model.encoder.requires_grad_(not config.freeze_encoder)
        self.optimizer = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.step, self.best_val = 0, float("inf")
        if initial is not None:
            self._load_initial_weights(initial)
            if fresh_bins is None and config.head == "classification" and \
                    initial["config"].get("rebalance", 0.5) != config.rebalance:
                self._rebalance_inherited_cells()
        if checkpoint is not None:
            self.model.load_state_dict(checkpoint["model"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            self.step, self.best_val = checkpoint["step"], checkpoint["best_val"]
        self.ab_weight_table = None
        if config.head == "regression" and config.loss == "rebalanced_logmse":
            self.ab_weight_table = self._ab_weight_table().to(self.device)
        self.soft_table = None
        if config.head == "classification":
            self.soft_table = tuple(t.to(self.device) for t in
                                    bins.soft_encoding_table(self.model.ab_bins.cpu().numpy() * AB_SCALE))
        val_images = load_photos(config.val, limit=limit)
        views = [runtime_view(im, config.val_size, WINDOW) for im in val_images]
        self.val_batches = [make_batch(config, *map(list, zip(*views[i:i + 32])), with_rgb=True)
                            for i in range(0, len(views), 32)]
        self.data_summary = {"train_folder": config.data, "train_photos": len(self.train_images),
                             "val_folder": config.val, "val_photos": len(val_images)}
        self.rng = np.random.default_rng(self.process.seed([config.seed, self.step]))
        self.train_images = self.process.share(self.train_images)  # torchrun: each process its own photos
        self.training_model = self.process.wrap(self.model)  # torchrun: DDP averages the gradients

    def _init_has_bins(self, initial: dict | None) -> bool:
        """Whether the --init-from checkpoint is a classification model's (then its cells and num_bins are kept)."""
        if initial is None or initial["config"].get("head") != "classification":
            return False
        self.config.num_bins = initial["config"]["num_bins"]
        return True

    def _rebalance_inherited_cells(self) -> None:
        """--init-from a classification model with another --rebalance: its cells are kept (the head's outputs
        mean them) and their weights are recomputed from the training photos with this run's lambda."""
        centres = self.model.ab_bins.cpu().numpy() * AB_SCALE
        _, weights = bins.rebalancing_weights(bins.ab_histogram(self.train_images), centres, self.config.rebalance)
        self.model.class_weights.copy_(torch.from_numpy(weights))

    def _ab_weight_table(self) -> torch.Tensor:
        """rebalanced_logmse's weight for every cell of the full ab grid (bins.cell_index): the rebalancing weight
        (lambda = --rebalance) of the nearest cell that occurs in the training photos, as for classification."""
        photos = self.train_images or load_photos(self.config.data, limit=self.config.limit_images or None)
        centres, _, weights = bins.bins_and_weights(bins.ab_histogram(photos), self.config.rebalance)
        offsets = np.arange(bins.GRID_SIDE) * bins.GRID - bins.AB_LIMIT
        grid = np.stack(np.meshgrid(offsets, offsets, indexing="ij"), axis=-1).reshape(-1, 1, 2)
        nearest = ((grid - centres[None]) ** 2).sum(-1).argmin(axis=1)
        return torch.from_numpy(weights[nearest])

    def _load_initial_weights(self, initial: dict) -> None:
        """--init-from: every weight that fits. A model with the decoder additions may start from one without
        them, and a classification model from a regression one (all but the last conv: a new head)."""
        weights = initial["model"]
        if initial["config"].get("head", "regression") != self.config.head:
            weights = {k: v for k, v in weights.items() if not k.startswith("decoder.14.")}
        missing, unexpected = self.model.load_state_dict(weights, strict=False)
        allowed = Colorizer.ADDITION_PREFIXES + (("decoder.14.", "ab_bins", "class_weights")
                                                  if self.config.head == "classification" else ())
        if unexpected or any(not key.startswith(allowed) for key in missing):
            raise ValueError(f"{self.config.init_from}: weights do not fit (missing {missing}, "
                             f"unexpected {unexpected})")

    def classification_loss(self, logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
                            ) -> torch.Tensor:
        """Zhang 2016's loss at the logits' size (1/2, or 1/(2 pool)): cross-entropy with the soft-encoded true ab
        (its nearest cells, Gaussian-weighted), each pixel weighted by the rebalancing weight of its nearest cell."""
        factor = target.shape[-1] // logits.shape[-1]  # 2, or 2 pool with Config.pool
        target = F.avg_pool2d(target, factor)
        indices, weights = bins.soft_targets(target, self.soft_table)
        log_probabilities = torch.log_softmax(logits.float(), dim=1)
        cross_entropy = -(log_probabilities.gather(1, indices) * weights).sum(dim=1, keepdim=True)
        pixel_weights = self.model.class_weights[indices[:, :1]]
        if mask is not None:
            mask = (F.avg_pool2d(mask, factor) > 0.5).float()
        return masked_mean(cross_entropy * pixel_weights, mask)

    def loss(self, output: torch.Tensor, **batch: torch.Tensor) -> torch.Tensor:
        """The training loss of forward()'s output: the head's own."""
        if self.config.head == "classification":
            return self.classification_loss(output, batch["target"], batch.get("mask"))
        if self.ab_weight_table is not None:
            target = batch["target"]
            cells = torch.from_numpy(bins.cell_index(target.permute(0, 2, 3, 1).cpu().numpy() * AB_SCALE))
            pixel_weights = self.ab_weight_table[cells.to(self.device)][:, None]
            return per_photo_rebalanced_log_mse(output, target, pixel_weights, self.config.log_mse_floor,
                                                batch.get("mask"))
        return loss_fn(self.config, output, **batch)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp)

    def _to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def validate(self, temperatures: list[float] | None = None) -> dict | list[dict]:
        """Mean loss on the runtime's view of the val photos and the 'no colour' (ab = 0) loss as the floor to beat;
        whatever the training loss, also the plain MSE, the mean per-photo gain over no colour in dB on ab and on
        RGB (the evaluation's PSNR gain: colours rebuilt from the gray photo's L) and the mean per-photo chroma
        ratio (predicted over true mean chroma: low means sepia or gray) and colourfulness ratio (ours over the
        truth's). temperatures: the numbers for each annealed-mean T (classification), one network pass."""
        if temperatures is not None:
            outputs = self._val_outputs()
            return [{"temperature": t, "calibration": self.config.calibration} | self.validate_outputs(outputs, t)
                    for t in temperatures]
        return self.validate_outputs(self._val_outputs(), self.config.temperature)

    def _val_outputs(self) -> list[torch.Tensor]:
        self.model.eval()
        outputs = []
        for batch in self.val_batches:
            with self._autocast():
                outputs.append(self.model(self._to_device(batch["lightness"]), self.config.pool).float())
        self._train_mode()
        return outputs

    def validate_outputs(self, outputs: list[torch.Tensor], temperature: float) -> dict:
        """validate()'s numbers from the network's outputs for the val batches, decoded at temperature."""
        totals = dict.fromkeys(["val_loss", "val_loss_no_colour", "val_mse", "val_mse_no_colour", "val_gain_db",
                                "val_chroma_ratio", "val_psnr_gain_db", "val_colourfulness",
                                "val_colourfulness_truth"], 0.0)
        count, classification = 0, self.config.head == "classification"
        for batch, output in zip(self.val_batches, outputs):
            targets = {key: value.to(self.device) for key, value in batch.items() if key != "lightness"}
            prediction = self.model.decode_pooled(output, temperature, self.config.calibration, self.config.pool)
            ab, mask = targets["target"], targets["mask"]
            gray_lightness, bgr = targets["gray_lightness"], targets["bgr"]
            no_colour = torch.zeros_like(ab)
            mse, mse_no_colour = per_photo_mse(prediction, ab, mask), per_photo_mse(no_colour, ab, mask)
            totals["val_loss"] += self.loss(output, **targets).item() * len(ab)
            # classification's "no colour": uniform logits, whose annealed mean is near gray
            totals["val_loss_no_colour"] += self.loss(torch.zeros_like(output) if classification else no_colour,
                                                      **targets).item() * len(ab)
            rgb = rgb_from_prediction(prediction, gray_lightness)
            rgb_mse, rgb_mse_no_colour = (per_photo_mse(x, bgr, mask)
                                          for x in (rgb, rgb_from_prediction(no_colour, gray_lightness)))
            totals["val_psnr_gain_db"] += (10 * torch.log10(rgb_mse_no_colour / rgb_mse.clamp_min(1e-10))).sum().item()
            totals["val_mse"] += mse.sum().item()
            totals["val_mse_no_colour"] += mse_no_colour.sum().item()
            totals["val_gain_db"] += (10 * torch.log10((mse_no_colour + PERFECT_MSE) / (mse + PERFECT_MSE))).sum().item()
            chroma, true_chroma = (masked_mean(x.square().sum(dim=1, keepdim=True).sqrt(), mask, dim=(1, 2, 3))
                                   for x in (prediction, ab))
            totals["val_chroma_ratio"] += (chroma / true_chroma.clamp_min(1e-6)).sum().item()
            totals["val_colourfulness"] += colourfulness(rgb, mask).sum().item()
            totals["val_colourfulness_truth"] += colourfulness(bgr, mask).sum().item()
            count += len(ab)
        numbers = {key: value / count for key, value in totals.items()}
        numbers["val_colourfulness_ratio"] = numbers["val_colourfulness"] / numbers["val_colourfulness_truth"]
        return numbers

    def _train_mode(self) -> None:
        self.model.train()
        if self.config.freeze_encoder:
            self.model.encoder.eval()

    def checkpoint(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "config": asdict(self.config), "step": self.step, "best_val": self.best_val,
                "data": self.data_summary}

    def train_step(self) -> float:
        config = self.config
        picks = self.rng.integers(0, len(self.train_images), config.batch_size)
        if config.view == "runtime":
            windows, sizes = map(list, zip(*(runtime_view(self.train_images[i], config.crop, WINDOW, self.rng)
                                             for i in picks)))
        elif config.view == "crop":
            windows, sizes = [random_crop(self.train_images[i], config.crop, self.rng) for i in picks], None
        else:
            raise ValueError(f"view must be 'crop' or 'runtime', not {config.view!r}")
        batch = {key: value.to(self.device) for key, value in
                 make_batch(config, windows, sizes, with_rgb=config.loss == "logmse_rgb").items()}
        lightness = batch.pop("lightness")
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(config, self.step)
        with self._autocast():
            output = self.training_model(self._to_device(lightness), config.pool)
        loss = self.loss(output, **batch)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        return loss.item()

    def run(self) -> None:
        config, log_path = self.config, self.out / "log.jsonl"
        self.out.mkdir(parents=True, exist_ok=True)
        self._train_mode()
        start, running = time.time(), []
        is_main = self.process.is_main  # under torchrun, rank 0 alone validates, logs and writes checkpoints
        with open(log_path if is_main else os.devnull, "a") as log, \
                tqdm(initial=self.step, total=config.max_steps, unit="step", disable=not is_main) as bar:
            while self.step < config.max_steps:
                running.append(self.train_step())
                bar.update(1)
                record = None
                if self.step % config.log_interval == 0:
                    record = {"step": self.step, "train_loss": self.process.mean(float(np.mean(running))),
                              "lr": learning_rate(config, self.step - 1), "crop": config.crop,
                              "elapsed_s": round(time.time() - start, 1)}
                    running = []
                    bar.set_postfix(loss=f"{record['train_loss']:.4f}")
                if is_main and (self.step % config.eval_interval == 0 or self.step == config.max_steps):
                    record = (record or {"step": self.step}) | self.validate()
                    improved = record["val_loss"] < self.best_val
                    if improved:
                        self.best_val = record["val_loss"]
                    save_atomic(self.checkpoint(), self.out / "ckpt.pt")
                    if improved:
                        save_atomic(self.checkpoint(), self.out / "best.pt")
                    bar.write(f"step {self.step}: val {record['val_loss']:.5f} "
                              f"(no colour {record['val_loss_no_colour']:.5f}, best {self.best_val:.5f}), "
                              f"gain over no colour {record['val_gain_db']:+.2f} dB (RGB "
                              f"{record['val_psnr_gain_db']:+.2f}), "
                              f"chroma ratio {record['val_chroma_ratio']:.2f}, colourfulness ratio "
                              f"{record['val_colourfulness_ratio']:.2f}")
                if record:
                    log.write(json.dumps(record) + "\n")
                    log.flush()
        self.process.finish()


def parse_args(argv: list[str] | None = None) -> tuple[dict, bool]:
    """Command-line overrides of Config (only the fields given) and the --resume flag."""
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    for field in dataclasses.fields(Config):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=str,
                            default=None, help=f"default: {field.default}")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt (step, optimizer, config)")
    parser.add_argument("--temperatures", type=lambda text: [float(t) for t in text.split(",")], default=None,
                        help="with --validate: the numbers at each of these annealed-mean temperatures (T1,T2,...)")
    parser.add_argument("--validate", action="store_true",
                        help="print the validation numbers (JSON) of the --init-from weights, or of OUT/ckpt.pt with "
                             "--resume, and exit without training")
    args = vars(parser.parse_args(argv))
    resume, validate, temperatures = args.pop("resume"), args.pop("validate"), args.pop("temperatures")
    types = {f.name: {"int": int, "float": float, "str": str}[f.type] for f in dataclasses.fields(Config)}
    return {k: types[k](v) for k, v in args.items() if v is not None}, resume, validate, temperatures


def main(argv: list[str] | None = None) -> None:
    overrides, resume, validate, temperatures = parse_args(argv)
    config = Config(**overrides)
    checkpoint = None
    if resume:
        checkpoint = load_checkpoint(Path(config.out) / "ckpt.pt")
        config = Config(**(checkpoint["config"] | overrides))
    if validate:
        numbers = Trainer(config, checkpoint, load_training_photos=False).validate(temperatures)
        for record in numbers if temperatures else [numbers]:
            print(json.dumps(record))
        return
    Trainer(config, checkpoint).run()
