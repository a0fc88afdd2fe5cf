"""train.evaluate: the metrics on known cases, a run over a tiny photo tree through the real runtime; train.plot;
train.ceiling's yardsticks."""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from colorize_runtime.colorizer import DEFAULT_SIZE, shipped_model_path
from tests.conftest import photo_like
from train import ceiling, plot
from train.evaluate import add_rebalanced_auc, auc_percent, colourfulness, error_counts, main

FOLDERS = {"scenes": [(300, 420), (64, 80)], "flowers": [(256, 256)]}


@pytest.fixture(scope="module")
def photo_tree(tmp_path_factory):
    """Colour photos in two source folders (one nested deeper, one png); at the top level, a colour photo and a
    gray one (nothing to score)."""
    root = tmp_path_factory.mktemp("photos")
    for index, (folder, sizes) in enumerate(FOLDERS.items()):
        for k, (height, width) in enumerate(sizes):
            path = root / folder / ("deeper" if k else "") / f"p{k}.{'png' if k else 'jpg'}"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), photo_like(height, width, seed=10 * index + k))
    cv2.imwrite(str(root / "loose.jpg"), photo_like(100, 120, seed=99))
    cv2.imwrite(str(root / "loose_gray.png"), photo_like(100, 120, channels=1))
    return root


@pytest.fixture(scope="module")
def evaluation(photo_tree, pointwise_onnx, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation")
    code = main(["--model", str(pointwise_onnx), "--data", str(photo_tree), "--out", str(out), "--stride", "100"])
    return code, out, json.loads((out / "evaluation.json").read_text())


def test_auc_is_the_normalised_area_under_the_threshold_curve():
    assert auc_percent(np.zeros((4, 4))) == pytest.approx(100)
    assert auc_percent(np.full((4, 4), 200.0)) == pytest.approx(0)
    # error 10 everywhere: the fraction is 0 for t < 10 and 1 from t = 10; trapezoids give 140.5 of 150
    assert auc_percent(np.full((4, 4), 10.0)) == pytest.approx(100 * 140.5 / 150)


def test_rebalanced_auc_weighs_each_true_colour_by_its_rarity():
    """90 % gray pixels coloured right, 10 % red ones wrong: AuC 90 %, rebalanced 50 % (each colour class weighs
    the same in total); a second photo of the set shifts the frequencies the weights come from."""
    truth = np.zeros((10, 10, 3), np.float32)
    truth[0, :, 1] = 60  # one row of red (a = 60)
    error = np.where(truth[..., 1] > 0, 200.0, 0.0)
    counts = {"ours": error_counts(error, truth), "floor": error_counts(np.zeros((10, 10)), truth)}
    records = [{"ours": {}, "floor": {}}]
    add_rebalanced_auc(records, [counts])
    assert auc_percent(error) == pytest.approx(90)
    assert records[0]["ours"]["rebalanced_auc"] == pytest.approx(50)
    assert records[0]["floor"]["rebalanced_auc"] == pytest.approx(100)
    gray_photo = {"ours": error_counts(np.zeros((10, 10)), np.zeros((10, 10, 3), np.float32))}
    gray_photo["floor"] = gray_photo["ours"]
    records = [{"ours": {}, "floor": {}}, {"ours": {}, "floor": {}}]
    add_rebalanced_auc(records, [counts, gray_photo])
    assert records[0]["ours"]["rebalanced_auc"] < 50  # red is rarer over the two photos: it weighs more


def test_colourfulness_is_zero_for_gray_and_grows_with_colour():
    gray = cv2.cvtColor(photo_like(32, 32, channels=1), cv2.COLOR_GRAY2BGR)
    colourful = photo_like(32, 32)
    assert colourfulness(gray) == 0
    assert colourfulness(colourful) > 20
    assert colourfulness(colourful // 2 + 64) < colourfulness(colourful)


def test_run_writes_finite_numbers_for_every_photo_folder_and_the_floor(evaluation):
    code, out, report = evaluation
    assert code == 0
    assert report["config"]["photos"] == 4 and report["config"]["runtime_options_given"] == {"stride": 100}
    assert report["config"]["runtime"]["stride"] == 100 and report["config"]["runtime"]["size"] == DEFAULT_SIZE
    assert [Path(p).name for p in report["config"]["skipped"]] == ["loose_gray.png"]
    assert set(report["per_folder"]) == {"scenes", "flowers", "."}
    assert report["per_folder"]["scenes"]["photos"] == 2
    assert [p["photo"] for p in report["per_photo"]][:2] == ["flowers/p0.jpg", "loose.jpg"]
    for summary in [report["overall"], *report["per_folder"].values(), *report["per_photo"]]:
        for side in ("ours", "floor"):
            assert {"psnr", "ssim", "ab_rmse", "auc", "rebalanced_auc", "colourfulness", "colourfulness_gap",
                    "chroma_ratio"} <= set(summary[side])
            # the cast is NaN only where no pixel of the truth is neutral (nothing to measure it on)
            assert all(math.isfinite(value) for key, value in summary[side].items() if key != "cast")
            assert "cast" in summary[side]
    overall = report["overall"]
    assert overall["floor"]["chroma_ratio"] < 0.01 and overall["floor"]["chroma_ratio_of_means"] < 0.01
    assert overall["floor"]["colourfulness"] == 0
    assert overall["ours"]["chroma_ratio"] > 0.05 and overall["ours"]["colourfulness"] > 1
    assert overall["truth"]["colourfulness"] > 20
    assert 0 < overall["ours"]["auc"] <= 100 and -1 <= overall["ours"]["ssim"] <= 1


def test_several_data_folders_are_evaluated_each_into_its_own_files(photo_tree, pointwise_onnx, tmp_path):
    assert main(["--model", str(pointwise_onnx), "--data", str(photo_tree / "scenes"), str(photo_tree / "flowers"),
                 "--out", str(tmp_path)]) == 0
    for name, photos in (("scenes", 2), ("flowers", 1)):
        report = json.loads((tmp_path / f"evaluation_{name}.json").read_text())
        assert report["config"]["photos"] == photos and report["config"]["data"] == str(photo_tree / name)
        assert report["overall"]["ours"]["colourfulness_ratio"] > 0
        assert (tmp_path / f"evaluation_grid_{name}.png").exists()
    assert not (tmp_path / "evaluation.json").exists()


def test_run_writes_a_grid_with_one_row_per_source_folder(evaluation):
    _, out, _ = evaluation
    grid = cv2.imread(str(out / "evaluation_grid.png"))
    assert grid is not None and grid.shape[0] > 2 * grid.shape[1] / 3  # three rows of three panels


def test_limit_takes_photos_from_across_the_tree_and_runtime_options_pass_through(photo_tree, pointwise_onnx,
                                                                                    tmp_path):
    assert main(["--model", str(pointwise_onnx), "--data", str(photo_tree), "--out", str(tmp_path),
                 "--limit", "2", "--size", "128", "--blend", "weighted"]) == 0
    report = json.loads((tmp_path / "evaluation.json").read_text())
    assert report["config"]["runtime"]["size"] == 128 and report["config"]["runtime"]["blend"] == "weighted"
    assert [p["photo"] for p in report["per_photo"]] == ["flowers/p0.jpg", "scenes/p0.jpg"]


def test_bad_input_is_a_usage_error(photo_tree, pointwise_onnx, tmp_path, capsys):
    assert main(["--model", str(tmp_path / "missing.onnx"), "--data", str(photo_tree), "--out", str(tmp_path)]) == 2
    assert "model file not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["--model", str(pointwise_onnx), "--data", str(tmp_path / "empty"), "--out", str(tmp_path)]) == 2
    assert "no photos" in capsys.readouterr().err
    assert main(["--model", str(pointwise_onnx), "--data", str(photo_tree), "--out", str(tmp_path),
                 "--blend", "nonsense"]) == 2
    assert "unknown blend" in capsys.readouterr().err
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "photo.jpg").write_bytes(b"not a photo")
    assert main(["--model", str(pointwise_onnx), "--data", str(tmp_path / "broken"), "--out", str(tmp_path)]) == 2
    assert "cannot be decoded" in capsys.readouterr().err
    assert not (tmp_path / "evaluation.json").exists()


def test_ceiling_orders_its_yardsticks_and_scores_the_gray_input_as_the_floor(photo_tree, tmp_path, capsys):
    """The truth at the working size beats the photo's mean colour, which beats no colour; the gray input scores
    exactly the floor; the gray photo is skipped with a warning, as train.evaluate skips it."""
    assert ceiling.main(["--data", str(photo_tree), "--json", str(tmp_path / "c.json")]) == 0
    rows = json.loads((tmp_path / "c.json").read_text())[str(photo_tree)]
    assert list(rows) == list(ceiling.REFERENCES) and all(r["photos"] == 4 for r in rows.values())
    gray, mean_colour, truth = (rows[name] for name in ceiling.REFERENCES)
    assert gray["psnr_gain_db"] == 0 and gray["chroma_ratio"] < 0.01
    assert gray["rebalanced_auc"] < mean_colour["rebalanced_auc"] < truth["rebalanced_auc"]
    assert gray["auc"] < mean_colour["auc"] < truth["auc"] and truth["psnr_gain_db"] > 10
    captured = capsys.readouterr()
    assert "loose_gray.png: no colour to compare against" in captured.err and "truth at working size" in captured.out


def test_ceiling_scores_a_model_as_is_and_with_the_true_mean_colour(photo_tree, pointwise_onnx, tmp_path):
    """--models: the model through the runtime, and the same output moved to each photo's true mean ab: closer to
    the truth (for the squared ab error, the mean difference is the best shift there is)."""
    model = str(pointwise_onnx)
    assert ceiling.main(["--data", str(photo_tree), "--models", model, "--json", str(tmp_path / "c.json")]) == 0
    rows = json.loads((tmp_path / "c.json").read_text())[str(photo_tree)]
    assert list(rows) == list(ceiling.REFERENCES) + [model, f"{model}, true mean colour"]
    assert rows[f"{model}, true mean colour"]["psnr_gain_db"] > rows[model]["psnr_gain_db"]
    assert rows[model]["psnr_gain_db"] != rows["gray input"]["psnr_gain_db"]


def test_plot_draws_a_resumed_log_once_per_step(tmp_path, capsys):
    records = [{"step": 50, "train_loss": 0.05}, {"step": 100, "train_loss": 0.03, "val_loss": 0.04,
                                                    "val_loss_no_colour": 0.05},
               {"step": 150, "train_loss": 0.9},  # logged, then lost to a crash: the resumed run logs it again
               {"step": 150, "train_loss": 0.02}, {"step": 200, "train_loss": 0.02, "val_loss": 0.03,
                                                    "val_loss_no_colour": 0.05}]
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert [r["train_loss"] for r in plot.read_log(log)] == [0.05, 0.03, 0.02, 0.02]
    assert plot.main([str(tmp_path)]) == 0
    image = cv2.imread(str(tmp_path / "loss_curves.png"))
    assert image is not None and image.shape[1] > image.shape[0]
    fine_tune = tmp_path / "fine-tune"
    fine_tune.mkdir()
    (fine_tune / "log.jsonl").write_text(json.dumps({"step": 100, "train_loss": -4.5, "val_loss": -4.4,
                                                     "val_loss_no_colour": -4.2, "val_gain_db": 1.1}) + "\n")
    assert plot.main([str(tmp_path), str(fine_tune), "-o", str(tmp_path / "chain.png")]) == 0  # a chain of runs
    chain = cv2.imread(str(tmp_path / "chain.png"))
    assert chain is not None and chain.shape[1] > image.shape[1]  # one panel per run
    assert plot.main([str(tmp_path / "missing")]) == 2
    assert "no such log" in capsys.readouterr().err
    log.write_text("not json\n")
    assert plot.main([str(log), "-o", str(tmp_path / "other.png")]) == 2
    assert "not a training log" in capsys.readouterr().err


def test_person_clicks_sit_inside_the_largest_regions_of_one_strong_colour():
    from train.evaluate import person_clicks
    photo = np.full((200, 300, 3), 128, np.uint8)
    photo[20:120, 20:200] = (40, 40, 200)  # a large red region
    photo[150:190, 240:290] = (200, 80, 30)  # a smaller blue one
    photo[10:14, 280:284] = (30, 200, 30)  # a green speck, removed by the opening
    clicks = person_clicks(photo, 3)
    assert len(clicks) == 2
    (first, second) = clicks
    assert 20 <= first.y < 120 and 20 <= first.x < 200 and first.ab[0] > 40  # red first: the largest
    assert 150 <= second.y < 190 and 240 <= second.x < 290 and second.ab[1] < -30


def test_clicks_and_suggestions_are_scored_against_the_automatic_colours(photo_tree, tmp_path):
    guided = str(shipped_model_path("guided"))
    code = main(["--model", guided, "--data", str(photo_tree), "--out", str(tmp_path), "--clicks", "person:2",
                 "--suggestions", "--limit", "2"])
    report = json.loads((tmp_path / "evaluation.json").read_text())
    assert code == 0 and report["config"]["clicks"] == 2
    clicked = [r for r in report["per_photo"] if "gain_over_automatic_db" in r]
    assert clicked and all(1 <= r["hint_count"] <= 2 for r in clicked)
    assert math.isfinite(report["overall"]["gain_over_automatic_db"])
    assert 0 <= report["overall"]["share_losing_over_half_db"] <= 1
    assert report["overall"]["suggestions_per_point"] >= 3 and 0 <= report["overall"]["suggestion_hits"] <= 1
    with pytest.raises(SystemExit):  # argparse: not person:N
        main(["--model", guided, "--data", str(photo_tree), "--out", str(tmp_path), "--clicks", "robot:2"])
