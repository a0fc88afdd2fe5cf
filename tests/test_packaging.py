"""The runtime as users get it: a wheel with the model inside, installed in a fresh venv without torch."""
from __future__ import annotations

import subprocess
import sys
import venv
import zipfile

import cv2

from tests.conftest import REPOSITORY, SAMPLE_PHOTO


def test_fresh_venv_with_only_pip_install_runs_colorize_run_without_torch(tmp_path):
    wheel_dir = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(REPOSITORY)],
                   check=True)
    (wheel,) = wheel_dir.glob("colorize_runtime-*.whl")
    assert "colorize_runtime/models/colorize.onnx" in zipfile.ZipFile(wheel).namelist()

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python, colorize_run = env_dir / "bin" / "python", env_dir / "bin" / "colorize-run"
    subprocess.run([python, "-m", "pip", "install", "-q", f"{wheel}[cpu]"], check=True)

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(SAMPLE_PHOTO.read_bytes())
    subprocess.run([colorize_run, str(photo)], check=True)
    result = cv2.imread(str(tmp_path / "photo_color.jpg"))
    assert result is not None and result.shape == cv2.imread(str(photo)).shape

    no_torch = subprocess.run([python, "-c", "import torch"], capture_output=True)
    assert no_torch.returncode != 0
    imported = subprocess.run([python, "-c", "import sys, colorize_runtime.cli, colorize_runtime; "
                               "colorize_runtime.Colorizer(); print('torch' in sys.modules)"],
                              capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "False"
    version = subprocess.run([python, "-m", "colorize_runtime", "--version"], capture_output=True, text=True,
                             check=True)
    assert version.stdout.startswith("colorize-run ")
