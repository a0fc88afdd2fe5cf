"""Installing as README.md says (issue 30): from a clone, extras quoted, exactly one onnxruntime package whichever
extra is chosen, the install folders ignored by git, a black-and-white sample photo for the first command, and a
one-line message when onnxruntime is missing."""
from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys

import cv2
from packaging.markers import Marker
from packaging.requirements import Requirement

from tests.conftest import REPOSITORY

README = (REPOSITORY / "README.md").read_text()
ONNXRUNTIMES = {"onnxruntime", "onnxruntime-gpu"}


def readme_command(marker: str) -> str:
    block = README.split(f"<!-- {marker} -->", 1)[1].split(f"<!-- /{marker} -->", 1)[0]
    return block.strip().strip("`").strip()


def requirements(extras: tuple[str, ...]) -> set[str]:
    """The distributions `pip install '.[EXTRAS]'` asks for, markers evaluated as pip does: the package's own
    requirements with no extra, each extra's with its name."""
    config = configparser.ConfigParser()
    config.read(REPOSITORY / "setup.cfg")
    lines = [(line, "") for line in config["options"]["install_requires"].splitlines() if line.strip()]
    for extra in extras:
        lines += [(line, extra) for line in config["options.extras_require"][extra].splitlines() if line.strip()]
    wanted = set()
    for line, extra in lines:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
            wanted.add(requirement.name.lower())
    return wanted


def test_each_install_has_exactly_one_onnxruntime():
    assert requirements(("cpu",)) & ONNXRUNTIMES == {"onnxruntime"}
    assert requirements(("gpu",)) & ONNXRUNTIMES == {"onnxruntime-gpu"}  # not both: they are one module
    assert requirements(("cpu", "video")) & ONNXRUNTIMES == {"onnxruntime"}
    assert requirements(()) & ONNXRUNTIMES == set()  # and colorize-run then says what to install
    assert Marker('extra == "gpu"').evaluate({"extra": "gpu"})  # the evaluation above is packaging's own


def test_readme_installs_from_the_clone_with_quoted_extras():
    not_on_pypi = "(`pip install colorize-runtime` finds nothing)"
    assert not_on_pypi in README and README.count("pip install colorize-runtime") == 1
    assert not re.search(r"pip install [^`'\n]*\[", README)  # every extra in quotes: zsh globs brackets
    assert ".venv-run/bin/pip install '.[cpu]'" in readme_command("sample-command")


def test_the_first_command_colours_a_black_and_white_photo():
    command = readme_command("sample-command")
    photo = re.search(r"colorize-run --force (\S+)$", command)[1]
    image = cv2.imread(str(REPOSITORY / photo), cv2.IMREAD_UNCHANGED)
    assert photo == "examples/sample_gray.jpg" and image.ndim == 2  # a gray JPEG, not a colour photo
    color = cv2.imread(str(REPOSITORY / "examples" / "sample.jpg"), cv2.IMREAD_GRAYSCALE)
    assert image.shape == color.shape and abs(image.astype(int) - color).mean() < 2  # the same photo
    assert "sample_gray.jpg" in (REPOSITORY / "examples" / "README.md").read_text()  # credited


def test_the_readme_says_what_step_2_is_for_and_what_it_costs():
    step_2 = README.split("2. ", 1)[1].split("## ", 1)[0]
    assert "For contributors" in step_2 and "the runtime does not need this step" in step_2
    assert re.search(r"6\.\d GB in `\.venv`", step_2) and re.search(r"\d+ min \d+ s", step_2)


def test_install_folders_are_ignored_by_git():
    paths = [".venv-run/bin/python", "build/lib/x.py", "colorize_runtime.egg-info/PKG-INFO", ".venv/bin/python"]
    result = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=REPOSITORY, capture_output=True,
                            text=True)
    assert result.stdout.split() == paths


def test_without_onnxruntime_colorize_run_says_which_extra_to_install(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes((REPOSITORY / "examples" / "sample_gray.jpg").read_bytes())
    code = ("import sys; sys.modules['onnxruntime'] = None; from colorize_runtime.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", code, str(photo)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPOSITORY / "runtime")})
    assert result.returncode == 2
    assert result.stderr == ("colorize-run: onnxruntime is not installed: in a clone of colorize, pip install "
                             "'.[cpu]' (or '.[gpu]' for CUDA; one of the two)\n")
    assert not (tmp_path / "photo_color.jpg").exists()
