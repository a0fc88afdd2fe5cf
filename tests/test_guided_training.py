"""The guided network's training chain: the shipped guided file back to a checkpoint (train.from_onnx --base),
a short train.train_guided run from it (and --resume), and export.guided's verified file, which the runtime
takes. The runtime's hints and the command line are in test_guided and test_cli_guided."""
from __future__ import annotations

import json

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from colorize_runtime import Colorizer, guided  # noqa: E402
from colorize_runtime.colorizer import shipped_model_path  # noqa: E402
from export.guided import export, default_decoding  # noqa: E402
from tests.conftest import photo_like  # noqa: E402
from tests.test_model_and_training import photo_folders  # noqa: E402,F401
from train import from_onnx  # noqa: E402
from train.guided import GuidedColorizer, pin_colours  # noqa: E402
from train.train import load_checkpoint  # noqa: E402
from train.train_guided import GuidedConfig, GuidedTrainer, base_from_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def recovered(tmp_path_factory):
    """The shipped default network and guided branches as checkpoints (from_onnx checks them against the files)."""
    folder = tmp_path_factory.mktemp("recovered")
    photos = folder / "photos" / "nested"
    photos.mkdir(parents=True)
    for i in range(8):
        cv2.imwrite(str(photos / f"p{i}.png"), photo_like(80, 100, seed=i))
    base, branches = folder / "base.pt", folder / "guided.pt"
    from_onnx.main([str(shipped_model_path("vivid")), str(base), "--data", str(folder / "photos")])
    from_onnx.main([str(shipped_model_path("guided")), str(branches), "--base", str(base)])
    return base, branches


def test_the_shipped_guided_file_becomes_a_checkpoint_that_computes_it(recovered):
    base, branches = recovered
    checkpoint = load_checkpoint(branches)
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(shipped_model_path("guided"))).metadata_props}
    assert checkpoint["step"] == meta["guided_training"]["step"]
    assert checkpoint["config"]["init_from"] == str(base)
    model = GuidedColorizer(base_from_checkpoint(str(base)))
    model.load_state_dict(checkpoint["model"])  # every weight of this network's design is there
    # (from_onnx itself compared the network with onnxruntime with points and a global hint, < 1e-3)


def test_exporting_the_recovered_checkpoint_gives_the_shipped_file_again(recovered, tmp_path):
    """The file's reference strength is divided out on recovery and applied again on export."""
    _, branches = recovered
    export(branches, tmp_path / "again.onnx")
    rng = np.random.default_rng(1)
    cells = len(Colorizer("guided").ab_cells)
    feed = {"L": rng.uniform(-1, 1, (1, 1, 256, 256)).astype(np.float32),
            "hints": np.zeros((1, 3, 256, 256), np.float32),
            "global_hint": rng.dirichlet(np.ones(cells))[None].astype(np.float32)}
    shipped, again = (ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["ab"], feed)[0]
                      for path in (shipped_model_path("guided"), tmp_path / "again.onnx"))
    assert np.abs(shipped - again).max() < 1e-4


def test_without_hints_the_network_is_its_base_exactly(recovered):
    base, branches = recovered
    model = GuidedColorizer(base_from_checkpoint(str(base))).eval()
    model.load_state_dict(load_checkpoint(branches)["model"])
    lightness = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (2, 1, 256, 256)).astype(np.float32))
    cells = model.base.ab_bins.shape[0]
    with torch.no_grad():
        guided_logits = model(lightness, torch.zeros(2, 3, 256, 256), torch.zeros(2, cells))
        assert torch.equal(guided_logits, model.base(lightness, 2))
        pins = torch.zeros(2, 3, 256, 256)
        pins[:, 0, 100:103, 100:103], pins[:, 2, 100:103, 100:103] = 0.4, 1
        assert not torch.equal(model(lightness, pins, torch.zeros(2, cells)), guided_logits)


def test_a_pin_gets_its_own_colour_at_the_pin_and_blends_out_around_it():
    ab = torch.zeros(1, 2, 32, 32)
    hints = torch.zeros(1, 3, 32, 32)
    hints[0, 0, 10:13, 10:13], hints[0, 2, 10:13, 10:13] = 0.5, 1
    out = pin_colours(ab, hints)[0, 0]
    assert torch.allclose(out[10:13, 10:13], torch.tensor(0.5))  # the whole pin
    assert 0 < out[11, 14] < 0.5 and out[11, 16] == 0  # falls off over two pixels


def test_a_short_guided_run_resumes_and_exports_a_file_the_runtime_takes(recovered, photo_folders,  # noqa: F811
                                                                         tmp_path):
    base, branches = recovered
    config = dict(data=str(photo_folders / "train"), val=str(photo_folders / "val"), out=str(tmp_path / "run"),
                  init_from=str(base), init_from_guided=str(branches), crop=64, batch_size=4, max_steps=2,
                  eval_interval=2, log_interval=1, val_photos=4, warmup_steps=1)
    trainer = GuidedTrainer(GuidedConfig(**config))
    start = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    assert all(torch.equal(start[k], v) for k, v in load_checkpoint(branches)["model"].items())  # warm start
    trainer.run()
    assert any(not torch.equal(start[k], v) for k, v in trainer.model.state_dict().items() if k.startswith("palette"))
    resumed = GuidedTrainer(GuidedConfig(**config | {"max_steps": 3}), load_checkpoint(tmp_path / "run" / "ckpt.pt"))
    assert resumed.step == 2
    resumed.run()
    assert load_checkpoint(tmp_path / "run" / "ckpt.pt")["step"] == 3

    output = tmp_path / "guided.onnx"
    export(tmp_path / "run" / "ckpt.pt", output)  # raises unless onnxruntime matches torch in every case
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(output)).metadata_props}
    assert {k: meta["head"][k] for k in default_decoding()} == default_decoding()  # decodes as the default
    colorizer = Colorizer(output, threads=2)
    assert colorizer.guided
    gray = photo_like(90, 120, channels=1, seed=3)
    pinned = colorizer.colorize(gray, hints=[guided.Hint.make(60, 45, "#2040ff")])
    assert pinned.shape == (90, 120, 3)
    assert np.array_equal(colorizer.colorize(gray), Colorizer("natural", threads=2).colorize(gray))
