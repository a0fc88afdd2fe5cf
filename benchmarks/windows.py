"""Per-window cost: the network's FLOPs, this CPU's matmul rate (the floor), and ms per 256 x 256 window for
onnxruntime fp32, onnxruntime int8 and torch eager."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import onnx

from colorize_runtime import Colorizer, colour

# OpenBLAS tuning variables some machines set for other work; the matmul rate is measured with OpenBLAS's own
# choice for this CPU (its best kernel), and only there.
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
MATMUL_SIZE = 4096
MATMUL_SCRIPT = f"""
import json, time
import numpy as np
n = {MATMUL_SIZE}
a, b = (np.random.default_rng(seed).random((n, n), dtype=np.float32) for seed in (0, 1))
times = []
for _ in range(REPEATS):
    start = time.perf_counter()
    a @ b
    times.append(time.perf_counter() - start)
blas = np.show_config("dicts")["Build Dependencies"]["blas"]
print(json.dumps({{"gflops_per_s": 2 * n ** 3 / min(times[1:]) / 1e9,
                  "blas": blas.get("openblas configuration", blas.get("name"))}}))
"""


def conv_gflop(model_path: Path) -> float:
    """GFLOP of one window: 2 x multiply-adds of every Conv (the rest of the graph is a rounding error)."""
    model = onnx.shape_inference.infer_shapes(onnx.load(model_path))
    dims = {value.name: [d.dim_value for d in value.type.tensor_type.shape.dim]
            for value in [*model.graph.value_info, *model.graph.output]}
    weights = {tensor.name: list(tensor.dims) for tensor in model.graph.initializer}
    flops = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            output, kernel = dims[node.output[0]], weights[node.input[1]]
            flops += 2 * int(np.prod(output[1:])) * int(np.prod(kernel[1:]))  # per window: leave out N
    return flops / 1e9


def matmul_rate(repeats: int = 6) -> dict:
    """Best large fp32 matrix product rate of numpy/OpenBLAS on all cores, in a fresh process without the
    OpenBLAS overrides."""
    env = {key: value for key, value in os.environ.items() if key not in OPENBLAS_OVERRIDES}
    script = MATMUL_SCRIPT.replace("REPEATS", str(repeats))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def time_per_window(run: Callable[[], object], windows: int, warmup: int = 5, samples: int = 40,
                    max_seconds: float = 8.0) -> dict:
    """Median (and min) ms per window of run(), after warm-up; stops early after max_seconds."""
    for _ in range(warmup):
        run()
    times = []
    deadline = time.perf_counter() + max_seconds
    while len(times) < samples and (len(times) < 5 or time.perf_counter() < deadline):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return {"ms": 1e3 * statistics.median(times) / windows, "min_ms": 1e3 * min(times) / windows,
            "samples": len(times), "batch": windows}


def sample_windows(photo: Path, batch: int) -> np.ndarray:
    """Normalised L of the sample photo, resized to one window, repeated batch times: [batch, 1, 256, 256]."""
    import cv2

    image = cv2.resize(cv2.imread(str(photo), cv2.IMREAD_GRAYSCALE), (colour.WINDOW, colour.WINDOW))
    lightness = colour.normalise_lightness(colour.lightness(image))
    return np.repeat(lightness[None, None], batch, axis=0)


def onnxruntime_window(model: Path, precision: str, windows: np.ndarray, threads: int | None) -> dict:
    """Through the runtime's own session (its session options), `windows` per call."""
    colorizer = Colorizer(model, providers="cpu", precision=precision, threads=threads)
    feed = {colorizer.input_name: windows}
    return time_per_window(lambda: colorizer.session.run(None, feed), len(windows))


def torch_window(windows: np.ndarray, checkpoint: Path | None, threads: int | None) -> dict | None:
    """train/'s network in eval mode, weights from checkpoint (the ones the ONNX file was exported from) or seeded
    random ones (the time does not depend on them); None when torch is not installed."""
    try:
        import torch
        from train.model import Colorizer as Network
    except ImportError:
        return None
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    network = Network().eval()
    if checkpoint:
        from train.train import load_checkpoint
        network.load_state_dict(load_checkpoint(checkpoint)["model"])
    batch = torch.from_numpy(windows)
    with torch.inference_mode():
        result = time_per_window(lambda: network(batch), len(windows))
    result["weights"] = str(checkpoint) if checkpoint else "seeded random (same architecture)"
    return result
