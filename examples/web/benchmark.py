"""Time the all-in-one file on a 1 MP and a 12 MP photo: in headless Chromium through the web page (drive.mjs, the
page's own timer around session.run) and in Python onnxruntime; print a Markdown table (docs/EMBEDDING.md).

    python examples/web/benchmark.py [--model models/colorize_rgb.onnx] [--repeats 3]

--model: default models/colorize_rgb.onnx, the default model's (natural) file the page loads;
models/colorize_vivid_rgb.onnx is vivid's.

The photos are examples/sample.jpg enlarged (cubic) to 1152 x 864 and 4000 x 3000, as PNG.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import serve  # noqa: E402  (beside this script)

SIZES = {"1 MP (1152 × 864)": (864, 1152), "12 MP (4000 × 3000)": (3000, 4000)}


def browser_runs(url: str, photo: Path, repeats: int) -> list[dict]:
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            result = subprocess.run(["node", str(HERE / "drive.mjs"), url, str(photo), f"{folder}/out.png"],
                                    capture_output=True, text=True, check=True, timeout=1200)
            runs.append(json.loads(result.stdout.splitlines()[-1]))
    return runs


def python_seconds(session: ort.InferenceSession, photo: np.ndarray, repeats: int) -> list[float]:
    feeds = {"rgb": np.ascontiguousarray(photo[None, ..., ::-1]), "saturation": np.array(1, np.float32)}
    session.run(None, feeds)  # the first run also allocates
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feeds)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=serve.REPOSITORY / "models" / "colorize_rgb.onnx")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sample = cv2.imread(str(serve.REPOSITORY / "examples" / "sample.jpg"), cv2.IMREAD_COLOR)
    session = ort.InferenceSession(str(args.model), providers=["CPUExecutionProvider"])
    with tempfile.TemporaryDirectory() as folder, serve.server(0, files={"/model.onnx": args.model.resolve()}) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_port}/examples/web/?model=/model.onnx"
        print("| photo | browser (WASM), s | browser threads | renderer peak memory, MB | Python onnxruntime, s |")
        print("| --- | --- | --- | --- | --- |")
        for name, (height, width) in SIZES.items():
            photo = cv2.resize(sample, (width, height), interpolation=cv2.INTER_CUBIC)
            path = Path(folder) / f"{width}x{height}.png"
            cv2.imwrite(str(path), photo)
            runs = browser_runs(url, path, args.repeats)
            browser = ", ".join(f"{run['seconds']:.2f}" for run in runs)
            python = ", ".join(f"{s:.2f}" for s in python_seconds(session, photo, args.repeats))
            peak = max(run["rendererPeakMB"] for run in runs)
            print(f"| {name} | {browser} | {runs[0]['threads']} | {peak} | {python} |", flush=True)
        httpd.shutdown()


if __name__ == "__main__":
    main()
