"""Static int8 quantisation (QDQ) of an exported model: python -m export.quantize MODEL [--photos DIR].

Writes NAME.int8.onnx beside MODEL (the file `Colorizer(precision="int8")` and `colorize-run --precision int8`
load). Activations are quantised to uint8 and weights to int8 per output channel (U8S8: the fast VNNI/AVX2 path
of onnxruntime on x86), with activation ranges calibrated (min/max) on the centre windows of the validation
photos, each photo seen scaled to a 256-px short side and at native resolution (the runtime's default working
resolution, 160 px mirror-padded to a window, is not among them; on 150 val-original photos int8 still costs only
0.02 dB there, models/MODEL_CARD.md). Before the file is written, int8 is compared with fp32 on those windows;
`python -m train.evaluate --precision int8` measures the PSNR it costs.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

from colorize_runtime import colour, files
from colorize_runtime.colorizer import int8_model_path
from train.data import find_photos

REPOSITORY = Path(__file__).resolve().parent.parent
VAL_PHOTOS = REPOSITORY.parent / "shared" / "data" / "photos" / "val"
FALLBACK_PHOTOS = REPOSITORY / "examples"  # a clone without the data folder still exports (worse calibration)
CALIBRATION_PHOTOS = 48
BATCH = 8
# int8 ab may differ from fp32 by this much on average (ab units, 0..~110) before the export refuses the file.
MAX_MEAN_AB_DIFFERENCE = 3.0


def calibration_windows(photos: Path, count: int = CALIBRATION_PHOTOS) -> np.ndarray:
    """Normalised L windows [2 * count, 1, 256, 256] from photos evenly spaced over the sorted folder tree."""
    paths = find_photos(photos)
    paths = [paths[i] for i in np.linspace(0, len(paths) - 1, min(count, len(paths))).round().astype(int)]
    win = colour.WINDOW
    windows = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        h, w = image.shape[:2]
        scale = win / min(h, w)
        small = cv2.resize(image, (max(win, round(w * scale)), max(win, round(h * scale))),
                           interpolation=cv2.INTER_AREA)
        for view in (small, image if min(h, w) >= win else small):
            y, x = (view.shape[0] - win) // 2, (view.shape[1] - win) // 2
            windows.append(colour.normalise_lightness(colour.lightness(view[y:y + win, x:x + win])))
    if not windows:
        raise SystemExit(f"quantize: {photos}: no readable photos for calibration")
    return np.stack(windows)[:, None]


class _Windows(CalibrationDataReader):
    def __init__(self, windows: np.ndarray, input_name: str) -> None:
        self.batches = iter([{input_name: windows[i:i + BATCH]} for i in range(0, len(windows), BATCH)])

    def get_next(self) -> dict | None:
        return next(self.batches, None)


def mean_ab_difference(fp32_path: Path, int8_path: Path, windows: np.ndarray) -> float:
    """Mean |ab int8 - ab fp32| in ab units over the windows."""
    sessions = [ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]) for path in (fp32_path, int8_path)]
    name = sessions[0].get_inputs()[0].name
    total = 0.0
    for i in range(0, len(windows), BATCH):
        fp32, int8 = (session.run(None, {name: windows[i:i + BATCH]})[0] for session in sessions)
        total += float(np.abs(colour.denormalise_ab(int8 - fp32)).sum())
    return total / (windows.size * 2)


def quantize(model: Path, photos: Path | None = None, output: Path | None = None) -> Path:
    """Write the int8 QDQ copy of an fp32 model (default: NAME.int8.onnx beside it); returns its path.
    photos: calibration photos (default: the validation photos, else examples/ with a warning)."""
    output = output or int8_model_path(model)
    if photos is None:
        photos = VAL_PHOTOS if VAL_PHOTOS.is_dir() else FALLBACK_PHOTOS
        if photos == FALLBACK_PHOTOS:
            print(f"quantize: warning: {VAL_PHOTOS} not found, calibrating on {FALLBACK_PHOTOS} only")
    windows = calibration_windows(photos)
    input_name = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    with tempfile.TemporaryDirectory() as scratch:
        prepared, quantised = Path(scratch) / "prepared.onnx", Path(scratch) / "int8.onnx"
        # Shape inference and graph clean-up, as the ORT docs advise; ONNX's shape inference, as onnxruntime's
        # symbolic one stops with "Incomplete symbolic shape inference" on the model with decoder skips and
        # global context (the shapes are static but for the batch).
        quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
        quantize_static(prepared, quantised, _Windows(windows, input_name), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
        difference = mean_ab_difference(model, quantised, windows)
        if difference > MAX_MEAN_AB_DIFFERENCE:
            raise SystemExit(f"quantize: int8 differs from fp32 by {difference:.2f} ab on average "
                             f"(> {MAX_MEAN_AB_DIFFERENCE}); not written")
        int8_model = onnx.load(quantised)
        del int8_model.metadata_props[:]  # the tools add non-JSON entries: keep the fp32 file's, plus ours
        int8_model.metadata_props.extend(onnx.load(model).metadata_props)
        int8_model.metadata_props.add(key="quantization", value=json.dumps({
            "format": "static QDQ", "activations": "uint8", "weights": "int8 per channel",
            "calibration": f"min/max on {len(windows)} windows of the photos in {photos.name}/",
            "mean_ab_difference_vs_fp32": round(difference, 4)}))
        with files.replacing(output) as temporary:
            onnx.save_model(int8_model, temporary)
    print(f"wrote {output}: {output.stat().st_size / 1e6:.2f} MB, int8 vs fp32 on {len(windows)} calibration "
          f"windows: mean |ab difference| {difference:.3f}")
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m export.quantize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="an fp32 model written by python -m export")
    parser.add_argument("--photos", type=Path, help=f"calibration photos (default: {VAL_PHOTOS})")
    parser.add_argument("-o", "--output", type=Path, help="default: MODEL's NAME.int8.onnx beside it")
    args = parser.parse_args(argv)
    quantize(args.model, args.photos, args.output)


if __name__ == "__main__":
    main()
