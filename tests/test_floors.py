"""The dependency floors in setup.cfg are the versions the tests ran with at the bottom of the range (issue 28,
class 1): onnxruntime 1.24.1 is the first release that refuses a model's external data outside its folder (1.23.2
reads ../, absolute paths and links out: measured), and the OpenCV before 4.13.0.90 has no cv2.utils.logging, so
every run crashed at start.

test_the_runtime_tests_pass_at_the_floors installs exactly the floors in a fresh venv and runs the runtime's tests
there. It needs the package index and a few minutes, so it runs only with COLORIZE_TEST_FLOORS=1; CONTRIBUTING.md
says when it last ran and what it gave."""
from __future__ import annotations

import configparser
import os
import subprocess
import sys
import venv

import pytest

from tests.conftest import REPOSITORY

# install_requires' floors, as measured; Python's too (onnxruntime 1.24.1 has no wheels below 3.11)
FLOORS = {"numpy": "2.0", "opencv-python-headless": "4.13.0.90", "onnxruntime": "1.24.1", "Pillow": "9.4",
          "tqdm": "4.60"}
PYTHON_FLOOR = "3.11"
# the runtime's tests that run without torch (the rest are skipped there)
FLOOR_TESTS = ["tests/test_runtime.py", "tests/test_cli.py", "tests/test_files.py", "tests/test_video.py",
               "tests/test_bad_models.py", "tests/test_damaged_photos.py", "tests/test_damaged_videos.py",
               "tests/test_hostile_runs.py"]


def declared() -> tuple[dict[str, str], str]:
    config = configparser.ConfigParser()
    config.read(REPOSITORY / "setup.cfg")
    requirements = [line.strip() for line in config["options"]["install_requires"].splitlines() if line.strip()]
    requirements.append(config["options.extras_require"]["cpu"].strip())  # onnxruntime: the [cpu] extra
    floors = dict(requirement.split(">=") for requirement in requirements)
    return floors, config["options"]["python_requires"].removeprefix(">=")


def test_setup_cfg_declares_the_measured_floors():
    floors, python = declared()
    assert floors == FLOORS and python == PYTHON_FLOOR
    assert "onnxruntime-gpu>=" + FLOORS["onnxruntime"] in (REPOSITORY / "setup.cfg").read_text()


@pytest.mark.skipif(os.environ.get("COLORIZE_TEST_FLOORS") != "1", reason="installs packages: COLORIZE_TEST_FLOORS=1")
def test_the_runtime_tests_pass_at_the_floors(tmp_path):
    environment = tmp_path / "floors"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    pins = [f"{name}=={version}" for name, version in FLOORS.items()]
    subprocess.run([python, "-m", "pip", "install", "-q", *pins, "av==18.1.0", "onnx", "pytest"], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "-e", str(REPOSITORY)], check=True)
    installed = subprocess.run([python, "-c", "import importlib.metadata as m, sys; print(*(m.version(n) for n in "
                                "sys.argv[1:]))", *FLOORS], capture_output=True, text=True, check=True).stdout
    assert installed.split() == [v if v.count(".") > 1 else f"{v}.0" for v in FLOORS.values()]
    result = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *FLOOR_TESTS], cwd=REPOSITORY,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    print(sys.version, result.stdout.splitlines()[-1])
