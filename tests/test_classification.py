"""The classification head (train/bins.py, --head classification): quantised ab, soft targets, rebalancing, the
annealed mean, a short run that learns, an export whose graph decodes to ab, the shipped models by name."""
from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from colorize_runtime import Colorizer, ColorizeError, colour  # noqa: E402
from colorize_runtime.colorizer import SHIPPED_MODELS, shipped_model_path  # noqa: E402
from export.export import export, load_model  # noqa: E402
from tests.conftest import photo_like  # noqa: E402
from tests.test_model_and_training import photo_folders, small_config  # noqa: E402,F401
from train import bins, sweep  # noqa: E402
from train.average import main as average_main  # noqa: E402
from train.model import Colorizer as Network, DecodedColorizer  # noqa: E402
from train.train import Trainer, load_checkpoint  # noqa: E402


def test_validation_colourfulness_is_the_evaluations():
    from train.evaluate import colourfulness as evaluate_colourfulness
    from train.train import colourfulness

    photo = photo_like(40, 50, seed=2)
    bgr = torch.from_numpy(photo.transpose(2, 0, 1)[None].astype(np.float32) / 255)
    assert float(colourfulness(bgr, torch.ones(1, 1, 40, 50))) == pytest.approx(evaluate_colourfulness(photo), rel=1e-4)


def test_cells_prior_and_rebalancing_weights_from_photos():
    photos = [photo_like(64, 64, seed=s) for s in range(4)] + [np.full((64, 64, 3), 128, np.uint8)] * 4
    counts = bins.ab_histogram(photos)
    centres, prior, weights = bins.bins_and_weights(counts, rebalance=0.5)
    assert len(centres) == (counts > 0).sum() and np.all(centres % bins.GRID == 0)
    assert prior.sum() == pytest.approx(1, abs=1e-5)
    assert (prior * weights).sum() == pytest.approx(1, abs=1e-5)  # mean weight 1 under the prior
    gray = np.argmin(np.abs(centres).sum(axis=1))
    assert np.all(centres[gray] == 0) and weights[gray] == weights.min()  # the commonest colour weighs least
    _, _, flat = bins.bins_and_weights(counts, rebalance=1.0)
    assert np.allclose(flat, 1)  # lambda 1: no rebalancing


def test_soft_targets_are_the_nearest_cells_with_gaussian_weights():
    centres = np.array([[0, 0], [10, 0], [0, 10], [-10, 0], [0, -10], [20, 20]], np.float32)
    table = bins.soft_encoding_table(centres)
    ab = torch.tensor([[0.0, 0.0], [6.0, 0.0], [200.0, 200.0]]).T.reshape(1, 2, 3, 1) / colour.AB_SCALE
    indices, weights = bins.soft_targets(ab, table)
    assert indices.shape == (1, bins.SOFT_NEIGHBOURS, 3, 1)
    assert torch.allclose(weights.sum(dim=1), torch.ones(1, 3, 1))
    assert indices[0, 0, 0, 0] == 0 and indices[0, 0, 1, 0] == 1 and indices[0, 0, 2, 0] == 5  # nearest first
    assert weights[0, 0, 1, 0] > weights[0, 1, 1, 0]  # (6, 0) is nearer (10, 0) than (0, 0)
    assert torch.isfinite(weights).all()  # far outside the cells: no 0 / 0


def test_confidence_mutes_a_colour_only_where_the_network_is_unsure():
    model = Network(head="classification", num_bins=2).eval()
    model.ab_bins.copy_(torch.tensor([[0.5, 0.0], [-0.5, 0.0]]))
    model.class_weights.fill_(1.0)
    logits = torch.zeros(1, 2, 1, 2)
    logits[0, 0, 0, 0] = 8.0  # left pixel: sure of cell 0; right pixel: cell 0 only slightly likelier than cell 1
    logits[0, 0, 0, 1] = 0.4
    vivid, natural = model.decode(logits, 0.05), model.decode(logits, 0.05, confidence=0.8)
    assert torch.allclose(vivid[..., 0], natural[..., 0], atol=1e-3)  # sure: the colour kept
    p = np.exp(0.4) / (np.exp(0.4) + 1)  # the right pixel's probability of cell 0 (cell 1 is 110 units away)
    right = natural[0, 0, 0, -1] / vivid[0, 0, 0, -1]
    assert float(right) == pytest.approx(p / 0.8, abs=0.02)  # unsure: faded by its probability over confidence


def test_annealed_mean_goes_from_the_mean_to_the_mode_as_t_falls():
    model = Network(head="classification", num_bins=2).eval()
    model.ab_bins.copy_(torch.tensor([[0.5, 0.0], [-0.5, 0.0]]))
    logits = torch.zeros(1, 2, 2, 2)
    logits[:, 0] = 1.0  # cell 0 more likely: e^1 : e^0
    mean = model.decode(logits, 1.0)
    assert mean.shape == (1, 2, 4, 4)  # decoded at 1/2 size and upsampled
    p = np.exp(1) / (np.exp(1) + 1)
    assert torch.allclose(mean[:, 0], torch.full((1, 4, 4), 0.5 * p - 0.5 * (1 - p)))
    assert float(model.decode(logits, 0.05)[0, 0, 0, 0]) == pytest.approx(0.5, abs=1e-4)  # the mode
    assert model(torch.zeros(1, 1, 64, 96)).shape == (1, 2, 32, 48)  # logits at 1/2 size
    huge = torch.tensor([500.0, -500.0])[None, :, None, None].expand(1, 2, 2, 2)  # no overflow, no 0 / 0
    assert torch.allclose(model.decode(huge, 0.4), torch.tensor(0.5).expand(1, 1, 4, 4).float().mul(
        torch.tensor([1.0, 0.0])[None, :, None, None]))


@pytest.fixture()
def classification_run(photo_folders, tmp_path):  # noqa: F811
    """A regression run, then a classification fine-tune from it (the head replaced, the rest kept)."""
    Trainer(small_config(photo_folders, tmp_path / "regression", max_steps=4, global_context=1, skips=1)).run()
    config = small_config(photo_folders, tmp_path / "classification", head="classification", max_steps=30,
                          global_context=1, skips=1, init_from=str(tmp_path / "regression" / "ckpt.pt"))
    return Trainer(config), tmp_path


def run_and_check_it_learns(trainer: Trainer, out) -> None:
    """Train; the training loss falls and the best validation loss beats the starting weights'."""
    before = trainer.validate()
    trainer.run()
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    losses = [r["train_loss"] for r in log if "train_loss" in r]
    assert losses[-1] < losses[0] and trainer.best_val < before["val_loss"]


def test_classification_fine_tune_from_a_regression_model_learns(classification_run):
    trainer, tmp_path = classification_run
    regression = load_checkpoint(tmp_path / "regression" / "ckpt.pt")["model"]
    assert torch.equal(trainer.model.state_dict()["encoder.0.weight"], regression["encoder.0.weight"])
    assert trainer.config.num_bins == len(trainer.model.ab_bins) > 10
    run_and_check_it_learns(trainer, tmp_path / "classification")
    resumed = load_checkpoint(tmp_path / "classification" / "ckpt.pt")
    assert resumed["config"]["num_bins"] == trainer.config.num_bins
    assert torch.equal(resumed["model"]["ab_bins"], trainer.model.ab_bins)  # the cells travel with the weights
    for rebalance in (0.5, 0.0):  # a new run from it keeps the cells; another lambda reweighs them
        child = Trainer(small_config(tmp_path, tmp_path / f"child{rebalance}", head="classification",  # the photos
                                     rebalance=rebalance, global_context=1, skips=1,
                                     init_from=str(tmp_path / "classification" / "ckpt.pt")))
        assert torch.equal(child.model.ab_bins, trainer.model.ab_bins)
        spread = float(child.model.class_weights.max() / child.model.class_weights.min())
        if rebalance == 0.5:
            assert torch.equal(child.model.class_weights, trainer.model.class_weights)
        else:
            assert spread > 2 * float(trainer.model.class_weights.max() / trainer.model.class_weights.min())


def test_frozen_encoder_keeps_its_weights_and_statistics(photo_folders, tmp_path):  # noqa: F811
    trainer = Trainer(small_config(photo_folders, tmp_path / "run", head="classification", max_steps=3,
                                   freeze_encoder=1))
    encoder = {k: v.clone() for k, v in trainer.model.encoder.state_dict().items()}
    decoder = trainer.model.decoder[0].weight.clone()
    trainer.run()
    assert all(torch.equal(v, trainer.model.encoder.state_dict()[k]) for k, v in encoder.items())
    assert not torch.equal(decoder, trainer.model.decoder[0].weight)


def test_export_decodes_inside_the_graph_with_the_temperature_in_the_metadata(classification_run):
    trainer, tmp_path = classification_run
    trainer.run()
    checkpoint = tmp_path / "classification" / "ckpt.pt"
    output = tmp_path / "model" / "colorize.onnx"
    export(checkpoint, output, all_in_one=False, temperature=0.5, int8=False)
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    (graph_input,), (graph_output,) = session.get_inputs(), session.get_outputs()
    assert graph_input.shape[1:] == [1, 256, 256] and graph_output.shape[1:] == [2, 256, 256]
    head = json.loads(session.get_modelmeta().custom_metadata_map["head"])
    assert head["type"] == "classification" and head["temperature"] == 0.5
    assert head["bins"] == trainer.config.num_bins
    lightness = np.random.default_rng(0).uniform(-1, 1, (1, 1, 256, 256)).astype(np.float32)
    with torch.no_grad():
        expected = load_model(load_checkpoint(checkpoint), 0.5)(torch.from_numpy(lightness)).numpy()
    np.testing.assert_allclose(session.run(None, {"L": lightness})[0], expected, atol=1e-4)
    result = Colorizer(output).colorize(photo_like(300, 200, channels=1))  # the runtime takes it as it is
    assert result.shape == (300, 200, 3)


def test_the_head_at_a_quarter_size_is_the_half_size_logits_averaged_and_exports(classification_run):
    trainer, tmp_path = classification_run
    trainer.run()
    checkpoint = tmp_path / "classification" / "ckpt.pt"
    network = load_model(load_checkpoint(checkpoint), 0.5, 0.25).model
    lightness = torch.from_numpy(np.random.default_rng(1).uniform(-1, 1, (2, 1, 256, 256)).astype(np.float32))
    with torch.no_grad():
        by_definition = network.decode(network(lightness), 0.5, 0.25, pool=2)  # the 1/2-size logits averaged
        fast = DecodedColorizer(network, 0.5, 0.25, pool=2)(lightness)  # the head on the averaged features
        half_size = network.decode(network(lightness), 0.5, 0.25)
    assert fast.shape == half_size.shape == (2, 2, 256, 256)
    torch.testing.assert_close(fast, by_definition, atol=1e-4, rtol=0)
    assert (fast - half_size).abs().max() > 1e-3  # a different decoding, not the same one renamed
    output = tmp_path / "pooled" / "colorize.onnx"
    export(checkpoint, output, all_in_one=False, temperature=0.5, calibration=0.25, int8=False, pool=2)
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    head = json.loads(session.get_modelmeta().custom_metadata_map["head"])
    assert head["pool"] == 2 and "1/4 size" in head["decoding"]
    np.testing.assert_allclose(session.run(None, {"L": lightness.numpy()})[0], by_definition.numpy(), atol=1e-4)
    with pytest.raises(ValueError, match="pool"):
        DecodedColorizer(Network(), pool=2)  # the regression head has no logits to average


def test_training_with_pool_2_trains_the_quarter_size_head_that_export_ships(photo_folders, tmp_path):  # noqa: F811
    Trainer(small_config(photo_folders, tmp_path / "regression", max_steps=4, global_context=1, skips=1)).run()
    trainer = Trainer(small_config(photo_folders, tmp_path / "pooled", head="classification", max_steps=30, pool=2,
                                   global_context=1, skips=1, init_from=str(tmp_path / "regression" / "ckpt.pt")))
    (outputs, *_) = trainer._val_outputs()
    assert outputs.shape[-2:] == (256 // 4, 256 // 4)  # the val windows' logits at 1/4 size
    run_and_check_it_learns(trainer, tmp_path / "pooled")
    checkpoint = load_checkpoint(tmp_path / "pooled" / "ckpt.pt")
    assert checkpoint["config"]["pool"] == 2
    lightness = trainer.val_batches[0]["lightness"]
    exported = load_model(checkpoint, 0.4, 0.0)
    assert exported.pool == 2  # export's default: the pool the model trained with
    with torch.no_grad():
        shipped = exported(lightness)
        validated = trainer.model.eval().decode_pooled(trainer.model(lightness, 2), 0.4, 0.0, 2)
    assert shipped.shape == (len(lightness), 2, 256, 256)
    torch.testing.assert_close(shipped, validated, atol=1e-4, rtol=0)  # validation scores what export ships
    soup = average_main([str(tmp_path / "soup.pt"), str(tmp_path / "pooled" / "ckpt.pt"),
                         str(tmp_path / "pooled" / "best.pt")])  # a classification model averages too
    assert np.isfinite(soup["val_loss"])
    assert torch.equal(load_checkpoint(tmp_path / "soup.pt")["model"]["ab_bins"], checkpoint["model"]["ab_bins"])


def test_sweep_decodes_one_network_pass_as_many_passes_would(classification_run, tmp_path):
    trainer, run_path = classification_run
    trainer.run()
    checkpoint, val = run_path / "classification" / "ckpt.pt", trainer.config.val
    both, alone = tmp_path / "both.json", tmp_path / "alone.json"
    assert sweep.main([str(checkpoint), "--data", val, "--temperatures", "0.2,1", "--calibrations", "0,1",
                       "--pools", "1,2", "--json", str(both)]) == 0
    assert sweep.main([str(checkpoint), "--data", val, "--temperatures", "1", "--calibrations", "1",
                       "--json", str(alone)]) == 0
    rows = {(r["temperature"], r["calibration"], r["pool"]): r for r in json.loads(both.read_text())[val]}
    assert len(rows) == 8 and rows[(1.0, 1.0, 1)] == json.loads(alone.read_text())[val][0]
    assert rows[(0.2, 0.0, 1)]["photos"] > 0
    assert rows[(0.2, 0.0, 1)]["colourfulness_ratio"] != rows[(1.0, 1.0, 1)]["colourfulness_ratio"]
    assert rows[(0.2, 0.0, 2)]["psnr_gain_db"] != rows[(0.2, 0.0, 1)]["psnr_gain_db"]
    sizes = tmp_path / "sizes.json"
    assert sweep.main([str(checkpoint), "--data", val, "--temperatures", "1", "--calibrations", "1",
                       "--sizes", "32,160", "--json", str(sizes)]) == 0
    by_size = {r["size"]: r for r in json.loads(sizes.read_text())[val]}
    assert by_size[160] == rows[(1.0, 1.0, 1)]  # the runtime's default working resolution
    assert by_size[32]["psnr_gain_db"] != by_size[160]["psnr_gain_db"]
    neutral = tmp_path / "neutral.json"  # a prior for gray: less colour where the network hesitates
    assert sweep.main([str(checkpoint), "--data", val, "--temperatures", "1", "--calibrations", "0",
                       "--neutrals", "0,3", "--json", str(neutral)]) == 0
    by_prior = {r["neutral"]: r for r in json.loads(neutral.read_text())[val]}
    assert by_prior[3.0]["chroma_ratio"] < by_prior[0.0]["chroma_ratio"]


def test_the_shipped_models_are_picked_by_name():
    assert set(SHIPPED_MODELS) == {"natural", "vivid", "regression", "guided"}
    for name in SHIPPED_MODELS:
        colorizer = Colorizer(name, providers="cpu")
        assert colorizer.model_path == shipped_model_path(name) and colorizer.model_path.is_file()
    assert Colorizer().model_path == shipped_model_path("natural")
    assert Colorizer("classification").model_path == shipped_model_path("vivid")  # the earlier name still works
    assert Colorizer("regression", precision="int8").model_path.name == "colorize_regression.int8.onnx"
    heads = {name: json.loads(Colorizer(name).session.get_modelmeta().custom_metadata_map.get(
        "head", '{"type": "regression"}')) for name in SHIPPED_MODELS}
    assert {name: head["type"] for name, head in heads.items()} == {
        "natural": "classification", "vivid": "classification", "regression": "regression",
        "guided": "classification"}
    assert heads["natural"]["confidence"] > 0 and not heads["vivid"].get("confidence")
    with pytest.raises(ColorizeError, match="not found"):
        Colorizer("garish")
