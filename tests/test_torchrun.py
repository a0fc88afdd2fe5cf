"""torchrun -m train: two processes on the CPU (gloo) for a few steps on tiny generated photos, then --resume
with one process."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import pytest

torch = pytest.importorskip("torch")

from tests.conftest import REPOSITORY, photo_like  # noqa: E402
from train.train import load_checkpoint  # noqa: E402

STEPS, BATCH = 24, 4


@pytest.fixture
def photo_folders(tmp_path):
    for folder, count in (("train", 8), ("val", 4)):
        (tmp_path / folder).mkdir()
        for i in range(count):
            seed = i + (100 if folder == "val" else 0)
            cv2.imwrite(str(tmp_path / folder / f"p{i}.png"), photo_like(72, 96, seed=seed))
    return tmp_path


def _train(photo_folders, out, *options: str, processes: int = 1) -> subprocess.CompletedProcess:
    """python -m train, under torchrun when processes > 1; the outputs of every process in stdout/stderr."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"] \
        if processes > 1 else [sys.executable]
    command = [*launcher, "-m", "train", "--data", str(photo_folders / "train"), "--val", str(photo_folders / "val"),
               "--out", str(out), "--crop", "32", "--batch-size", str(BATCH), "--lr", "3e-3", "--warmup-steps", "1",
               "--log-interval", "4", "--eval-interval", str(STEPS), "--val-size", "64", "--threads", "1",
               "--seed", "0", *options]
    env = {**os.environ, "PYTHONPATH": f"{REPOSITORY / 'runtime'}{os.pathsep}{REPOSITORY}"}
    result = subprocess.run(command, cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _log(out) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_two_processes_train_together_and_one_resumes(photo_folders, tmp_path):
    out = tmp_path / "run"
    _train(photo_folders, out, "--max-steps", str(STEPS), processes=2)

    log = _log(out)
    steps = [record["step"] for record in log if "train_loss" in record]
    assert steps == list(range(4, STEPS + 1, 4))  # one log, written by rank 0 only
    losses = [record["train_loss"] for record in log if "train_loss" in record]
    assert losses[-1] < losses[0]
    assert [record["step"] for record in log if "val_loss" in record] == [STEPS]  # validated once, by rank 0
    assert sorted(path.name for path in out.iterdir()) == ["best.pt", "ckpt.pt", "log.jsonl"]  # no temporary left
    checkpoint = load_checkpoint(out / "ckpt.pt")
    assert checkpoint["step"] == STEPS
    assert checkpoint["config"]["world_size"] == 2 and checkpoint["config"]["global_batch"] == 2 * BATCH
    assert checkpoint["data"]["train_photos"] == 8  # all of them, shared between the two processes

    _train(photo_folders, out, "--resume", "--max-steps", str(STEPS + 8), "--eval-interval", "8")
    resumed = load_checkpoint(out / "ckpt.pt")
    assert resumed["step"] == STEPS + 8
    assert resumed["config"]["world_size"] == 1 and resumed["config"]["global_batch"] == BATCH
    assert [record["step"] for record in _log(out) if "train_loss" in record][len(steps):] == [STEPS + 4, STEPS + 8]
