"""train/: the network's shapes, a short run that learns, checkpoints that resume."""
from __future__ import annotations

import json

import cv2
import pytest

torch = pytest.importorskip("torch")

from tests.conftest import photo_like  # noqa: E402
from train.model import Colorizer  # noqa: E402
from train.train import Config, Trainer, load_checkpoint, main, per_photo_log_mse  # noqa: E402


def test_output_is_ab_at_input_size():
    model = Colorizer().eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 256, 256)).shape == (2, 2, 256, 256)
        assert model(torch.zeros(1, 1, 128, 64)).shape == (1, 2, 128, 64)


def test_encoder_is_resnet18_first_six_children_with_one_input_channel():
    encoder = Colorizer().encoder
    assert len(encoder) == 6
    assert encoder[0].in_channels == 1
    assert encoder[5][-1].conv2.out_channels == 128


@pytest.fixture()
def photo_folders(tmp_path):
    """Generated colour photos: a train and a val folder (jpg and png, nested), with one broken file."""
    for split, count in (("train", 12), ("val", 4)):
        folder = tmp_path / split / "nested"
        folder.mkdir(parents=True)
        for i in range(count):
            cv2.imwrite(str(folder / f"p{i}.{'png' if i % 2 else 'jpg'}"), photo_like(80, 100, seed=i))
    (tmp_path / "train" / "broken.jpg").write_bytes(b"not a photo")
    return tmp_path


def small_config(folders, out, **overrides) -> Config:
    values = dict(data=str(folders / "train"), val=str(folders / "val"), out=str(out), crop=64, val_crop=64,
                  batch_size=8, max_steps=30, warmup_steps=1, lr=3e-3, eval_interval=10, log_interval=10, seed=0)
    return Config(**(values | overrides))


def test_short_training_run_lowers_the_loss(photo_folders, tmp_path):
    trainer = Trainer(small_config(photo_folders, tmp_path / "run"))
    assert len(trainer.train_images) == 12  # the broken file is skipped with a warning
    before = trainer.validate()["val_loss"]
    trainer.run()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    train_losses = [r["train_loss"] for r in log if "train_loss" in r]
    assert train_losses[-1] < train_losses[0]
    assert trainer.best_val < before


def test_checkpoint_holds_everything_and_resume_continues_the_step_count(photo_folders, tmp_path):
    out = tmp_path / "run"
    args = ["--data", str(photo_folders / "train"), "--val", str(photo_folders / "val"), "--out", str(out),
            "--crop", "64", "--val-crop", "64", "--batch-size", "4", "--max-steps", "10", "--eval-interval", "5"]
    main(args)
    checkpoint = load_checkpoint(out / "ckpt.pt")
    assert set(checkpoint) >= {"model", "optimizer", "config", "step", "best_val"}
    assert checkpoint["step"] == 10 and checkpoint["config"]["crop"] == 64
    assert not list(out.glob("*.tmp"))  # written atomically
    main(args[:-4] + ["--max-steps", "15", "--eval-interval", "5", "--resume"])
    resumed = load_checkpoint(out / "ckpt.pt")
    assert resumed["step"] == 15
    assert resumed["config"]["batch_size"] == 4  # kept from the checkpoint
    assert resumed["best_val"] <= checkpoint["best_val"]


def test_fine_tuning_from_weights_with_the_per_photo_log_loss(photo_folders, tmp_path):
    """--init-from takes the weights only (fresh optimizer and schedule); logmse rewards a photo's error in dB, as
    mean PSNR does, so a wrong colour on a nearly gray photo costs as much as on a colourful one."""
    Trainer(small_config(photo_folders, tmp_path / "first", max_steps=10)).run()
    trainer = Trainer(small_config(photo_folders, tmp_path / "second", loss="logmse", max_steps=10,
                                   init_from=str(tmp_path / "first" / "ckpt.pt")))
    first = load_checkpoint(tmp_path / "first" / "ckpt.pt")
    assert trainer.step == 0 and all(torch.equal(first["model"][k], v) for k, v in trainer.model.state_dict().items())
    before = trainer.validate()
    assert {"val_mse", "val_gain_db", "val_chroma_ratio"} <= set(before)
    trainer.run()
    assert trainer.best_val < before["val_loss"]
    truth = torch.zeros(1, 2, 8, 8)

    def doubling_cost(error: float) -> float:  # the loss added by doubling a photo's colour error
        return float(per_photo_log_mse(truth + 2 * error, truth) - per_photo_log_mse(truth + error, truth))

    assert doubling_cost(0.05) == pytest.approx(doubling_cost(0.2), abs=0.05)  # in dB, whatever its size


def test_validate_prints_the_numbers_of_a_checkpoint_without_training(photo_folders, tmp_path, capsys):
    Trainer(small_config(photo_folders, tmp_path / "run", max_steps=5)).run()
    capsys.readouterr()
    main(["--validate", "--init-from", str(tmp_path / "run" / "ckpt.pt"), "--data", str(photo_folders / "train"),
          "--val", str(photo_folders / "val"), "--val-crop", "64", "--out", str(tmp_path / "untouched")])
    numbers = json.loads(capsys.readouterr().out)
    assert {"val_mse", "val_mse_no_colour", "val_gain_db", "val_chroma_ratio"} <= set(numbers)
    assert not (tmp_path / "untouched").exists()  # nothing written
