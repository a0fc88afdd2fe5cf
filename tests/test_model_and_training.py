"""train/: the network's shapes, a short run that learns, checkpoints that resume."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.conftest import photo_like  # noqa: E402
from colorize_runtime import colour  # noqa: E402
from train.colour_torch import lab_to_bgr  # noqa: E402
from export.export import metadata as export_metadata  # noqa: E402
from train import bins  # noqa: E402
from train.average import average_weights, main as average_main  # noqa: E402
from train.data import runtime_view, to_tensors, valid_masks  # noqa: E402
from train.model import Colorizer  # noqa: E402
from train.train import (Config, Trainer, load_checkpoint, main, per_photo_distance, per_photo_log_mse,  # noqa: E402
                         per_photo_rebalanced_log_mse)


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


@pytest.mark.parametrize("options", [{"global_context": True}, {"skips": True},
                                     {"global_context": True, "skips": True}])
def test_decoder_additions_start_as_the_plain_network_and_then_change_it(options):
    """Fine-tuning a plain model into one with skips or global context starts from the same function."""
    torch.manual_seed(0)
    plain, extended = Colorizer().eval(), Colorizer(**options).eval()
    missing, unexpected = extended.load_state_dict(plain.state_dict(), strict=False)
    assert missing and not unexpected
    lightness = torch.randn(2, 1, 64, 96)
    with torch.no_grad():
        assert torch.equal(extended(lightness), plain(lightness))
        for key in missing:
            extended.state_dict()[key].normal_(0, 0.1)
        assert extended(lightness).shape == (2, 2, 64, 96)
        assert not torch.allclose(extended(lightness), plain(lightness))


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
    values = dict(data=str(folders / "train"), val=str(folders / "val"), out=str(out), crop=64,
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
            "--crop", "64", "--batch-size", "4", "--max-steps", "10", "--eval-interval", "5"]
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


def test_rebalanced_loss_weighs_a_rare_colour_more_and_a_short_run_learns(photo_folders, tmp_path):
    """--loss rebalanced_logmse: the same error costs more on a pixel whose true colour is rare in the training
    photos (a saturated one) than on a common dull one; a gray photo is scored as logmse scores it."""
    trainer = Trainer(small_config(photo_folders, tmp_path / "run", loss="rebalanced_logmse", max_steps=10))
    table = trainer.ab_weight_table
    assert table.shape == (bins.GRID_SIDE ** 2,) and bool((table > 0).all())
    neutral, saturated = (int(bins.cell_index(np.array(ab, np.float64))) for ab in ((0, 0), (60, 60)))
    assert table[saturated] > table[neutral]
    truth = torch.zeros(1, 2, 4, 4)
    truth[0, :, 0, 0] = 60 / 110                                     # one saturated pixel in a dull photo
    weights = table[torch.from_numpy(bins.cell_index(truth.permute(0, 2, 3, 1).numpy() * 110))][:, None]
    off_on_rare, off_on_dull = truth.clone(), truth.clone()
    off_on_rare[0, 0, 0, 0] += 0.2
    off_on_dull[0, 0, 3, 3] += 0.2
    assert per_photo_rebalanced_log_mse(off_on_rare, truth, weights, 1e-3) > \
        per_photo_rebalanced_log_mse(off_on_dull, truth, weights, 1e-3)
    gray_truth, prediction = torch.zeros(1, 2, 4, 4), torch.full((1, 2, 4, 4), 0.1)
    gray_weights = table[torch.from_numpy(bins.cell_index(np.zeros((1, 4, 4, 2))))][:, None]
    assert float(per_photo_rebalanced_log_mse(prediction, gray_truth, gray_weights, 1e-3)) == pytest.approx(
        float(per_photo_log_mse(prediction, gray_truth, 1e-3)), abs=1e-6)
    before = trainer.validate()["val_loss"]
    trainer.run()
    assert trainer.best_val < before
    resumed = Trainer(Config(**load_checkpoint(tmp_path / "run" / "ckpt.pt")["config"]),
                      load_checkpoint(tmp_path / "run" / "ckpt.pt"), load_training_photos=False)
    assert torch.equal(resumed.ab_weight_table, table)  # validation alone recomputes the same weights


def test_distance_loss_is_the_mean_euclidean_ab_error_that_auc_thresholds():
    """--loss distance: each photo's mean Euclidean ab error over its own pixels (mask), averaged over photos."""
    truth = torch.zeros(2, 2, 4, 4)
    prediction = truth.clone()
    prediction[0, 0], prediction[0, 1] = 0.3, 0.4                  # photo 1: off by 0.5 everywhere
    prediction[1, 0, :2] = 0.1                                     # photo 2: off by 0.1 on its top half
    assert float(per_photo_distance(prediction, truth)) == pytest.approx((0.5 + 0.05) / 2, abs=1e-4)
    top_half = torch.zeros(2, 1, 4, 4)
    top_half[:, :, :2] = 1
    assert float(per_photo_distance(prediction, truth, top_half)) == pytest.approx((0.5 + 0.1) / 2, abs=1e-4)
    prediction.requires_grad_(True)
    per_photo_distance(prediction, truth).backward()                # finite where the error is zero
    assert torch.isfinite(prediction.grad).all()


def test_lab_to_bgr_inverts_the_colour_contract_and_clips_like_opencv():
    bgr = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    lab = colour.bgr_to_lab(bgr)
    as_tensor = torch.from_numpy(lab).permute(2, 0, 1)[None]
    back = lab_to_bgr(as_tensor[:, :1], as_tensor[:, 1:])[0].permute(1, 2, 0).numpy()
    assert np.abs(back * 255 - bgr).max() <= 1
    lab[..., 1:] *= 2  # far out of the sRGB gamut: clipped to [0, 1] as OpenCV does
    as_tensor = torch.from_numpy(lab).permute(2, 0, 1)[None]
    out_of_gamut = lab_to_bgr(as_tensor[:, :1], as_tensor[:, 1:])[0].permute(1, 2, 0).numpy()
    assert np.abs(out_of_gamut - np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2BGR), 0, 1)).max() < 1 / 255


def test_gray_lightness_is_what_the_runtime_reads_from_the_gray_photo():
    photo = photo_like(32, 48, seed=3)
    lightness, ab = to_tensors([photo], lightness_from="gray")
    gray_photo_lightness = colour.lightness(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY))
    assert np.allclose(lightness[0, 0].numpy(), colour.normalise_lightness(gray_photo_lightness))
    assert torch.equal(ab, to_tensors([photo])[1])  # the target colours are the photo's own
    with pytest.raises(ValueError, match="lightness_from"):
        to_tensors([photo], lightness_from="luma")


def test_training_on_rgb_from_the_gray_photo(photo_folders, tmp_path):
    """logmse_rgb scores the colours the runtime writes (the gray photo's L with the predicted ab) on RGB, per
    photo: the evaluation's PSNR. Validation reports that gain in dB whatever the loss."""
    trainer = Trainer(small_config(photo_folders, tmp_path / "run", loss="logmse_rgb", lightness="gray",
                                   max_steps=20))
    before = trainer.validate()
    assert before["val_psnr_gain_db"] < 0.5  # an untrained net paints noise
    trainer.run()
    assert trainer.best_val < before["val_loss"]
    assert "val_psnr_gain_db" in json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])


def test_runtime_view_is_the_window_the_runtime_feeds_the_network():
    """A photo at --size 64 in a 256 window: scaled to a 64-pixel short side, mirrored at the bottom and right
    (as Colorizer.predict_ab pads); a long side over the window is cut to it."""
    photo = photo_like(120, 150, seed=4)
    window, (h, w) = runtime_view(photo, 64, 256)
    assert window.shape == (256, 256, 3) and (h, w) == (64, 80)
    assert np.array_equal(window[h:2 * h, :w], window[:h, :w][::-1])  # mirrored below the photo
    assert np.array_equal(window[:h, w:2 * w], window[:h, :w][:, ::-1])
    _, size = runtime_view(photo_like(100, 900, seed=5), 64, 256, np.random.default_rng(0))
    assert size == (64, 256)
    masks = valid_masks([(h, w), size], 256)
    assert masks.shape == (2, 1, 256, 256) and masks[0].sum() == h * w and masks[1].sum() == 64 * 256


def test_training_on_runtime_views_scores_only_the_photo(photo_folders, tmp_path):
    trainer = Trainer(small_config(photo_folders, tmp_path / "run", view="runtime", loss="logmse", batch_size=4,
                                   max_steps=6, eval_interval=3, global_context=1, skips=1))
    before = trainer.validate()["val_loss"]
    trainer.run()
    assert trainer.step == 6 and trainer.best_val < before
    with pytest.raises(ValueError, match="view"):
        Trainer(small_config(photo_folders, tmp_path / "bad", view="tiles", max_steps=1)).run()


def test_validate_prints_the_numbers_of_a_checkpoint_without_training(photo_folders, tmp_path, capsys):
    Trainer(small_config(photo_folders, tmp_path / "run", max_steps=5)).run()
    capsys.readouterr()
    main(["--validate", "--init-from", str(tmp_path / "run" / "ckpt.pt"), "--data", str(photo_folders / "train"),
          "--val", str(photo_folders / "val"), "--out", str(tmp_path / "untouched")])
    numbers = json.loads(capsys.readouterr().out)
    assert {"val_mse", "val_mse_no_colour", "val_gain_db", "val_chroma_ratio"} <= set(numbers)
    assert not (tmp_path / "untouched").exists()  # nothing written


def test_average_writes_the_mean_of_fine_tunes_as_a_checkpoint(photo_folders, tmp_path, capsys):
    """python -m train.average: the element-wise mean of the weights, validated, in a checkpoint export takes."""
    Trainer(small_config(photo_folders, tmp_path / "parent", max_steps=4)).run()
    for seed in (1, 2):
        Trainer(small_config(photo_folders, tmp_path / f"tune{seed}", max_steps=4, seed=seed,
                             init_from=str(tmp_path / "parent" / "ckpt.pt"))).run()
    paths = [str(tmp_path / f"tune{seed}" / "ckpt.pt") for seed in (1, 2)]
    capsys.readouterr()
    numbers = average_main([str(tmp_path / "soup.pt"), *paths])
    assert json.loads(capsys.readouterr().out) == numbers
    soup, first, second = (load_checkpoint(p) for p in (tmp_path / "soup.pt", *paths))
    weight = "decoder.0.weight"
    assert torch.allclose(soup["model"][weight], (first["model"][weight] + second["model"][weight]) / 2)
    assert soup["best_val"] == numbers["val_loss"] and soup["averaged_from"] == paths
    assert export_metadata(soup)["averaged_from"] == paths
    with pytest.raises(ValueError, match="architectures"):
        average_weights([first["model"], Colorizer(skips=True).state_dict()])
