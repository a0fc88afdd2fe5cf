"""train.from_onnx: a shipped ONNX file back to a checkpoint a new run can start from (--init-from)."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from tests.conftest import REPOSITORY, photo_like  # noqa: E402
from tests.test_model_and_training import photo_folders  # noqa: E402,F401
from train.from_onnx import main, recover  # noqa: E402
from train.model import DecodedColorizer  # noqa: E402
from train.train import Config, Trainer, load_checkpoint  # noqa: E402

SHIPPED = {"classification": REPOSITORY / "models" / "colorize.onnx",
           "regression": REPOSITORY / "models" / "colorize_regression.onnx"}


@pytest.mark.parametrize("head", sorted(SHIPPED))
def test_a_shipped_file_becomes_a_checkpoint_computing_what_the_file_computes(head, photo_folders,  # noqa: F811
                                                                             tmp_path):
    out = tmp_path / "recovered.pt"
    main([str(SHIPPED[head]), str(out), "--data", str(photo_folders / "train")])
    checkpoint = load_checkpoint(out)
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(SHIPPED[head])).metadata_props}
    assert checkpoint["step"] == meta["training_step"]
    assert checkpoint["config"].get("head", "regression") == head  # the regression file predates --head

    config = Config(**checkpoint["config"] | dict(data=str(photo_folders / "train"), val=str(photo_folders / "val"),
                                                  out=str(tmp_path / "run"), init_from=str(out)))
    trainer = Trainer(config)  # a new run starts from it: the weights (and a classification file's cells) load
    decoding = meta.get("head", {})
    decoded = DecodedColorizer(trainer.model.eval(), decoding.get("temperature", 1.0),
                               decoding.get("calibration", 0.0), decoding.get("pool", 1))
    gray = photo_like(256, 256, channels=1, seed=7).astype(np.float32)[None, None] / 127.5 - 1
    session = ort.InferenceSession(str(SHIPPED[head]), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ours = decoded(torch.from_numpy(gray)).numpy()
    assert np.abs(ours - session.run(None, {"L": gray})[0]).max() < 1e-3
    if head == "classification":
        assert (trainer.model.class_weights > 0).all() and trainer.model.ab_bins.abs().max() <= 1


def test_a_classification_file_without_its_rebalancing_weights_is_refused(photo_folders, tmp_path):  # noqa: F811
    proto = onnx.load(str(SHIPPED["classification"]))
    for prop in proto.metadata_props:
        if prop.key == "head":
            prop.value = json.dumps(json.loads(prop.value) | {"calibration": 0.0})
    onnx.save(proto, tmp_path / "no_weights.onnx")
    with pytest.raises(ValueError, match="rebalancing weights"):
        recover(tmp_path / "no_weights.onnx", str(photo_folders / "train"))
