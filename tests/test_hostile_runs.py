"""Runs a careless user or a hostile tester makes (issue 28, classes 5 and 6): stdout closed by its reader or at
start, a report file on a full disk, --force onto a FIFO or a device, a --suffix with a path separator, SIGTERM,
a temporary file left by a killed run; options out of range, bad API arguments, a newline in a file name, an
empty folder, a multi-page TIFF. Each asserts the exit code, the one stderr line, and that nothing was lost or
left behind."""
from __future__ import annotations

import math
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorize_runtime import Colorizer, files, leftovers
from colorize_runtime.errors import ColorizeError
from colorize_runtime.options import MAX_SATURATION, machine_threads
from tests.conftest import REPOSITORY, photo_like
from tests.test_cli import run, write_photo  # noqa: F401 (fixture)

ENVIRONMENT = {**os.environ, "PYTHONPATH": f"{REPOSITORY / 'runtime'}{os.pathsep}{REPOSITORY}"}
COMMAND = [sys.executable, "-m", "colorize_runtime"]


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def photos(folder: Path, count: int, size: int = 32) -> list[Path]:
    return [write_photo(folder / f"{i:02}.png", size, size, seed=i) for i in range(count)]


def all_coloured(inputs: list[Path]) -> bool:
    return all(files.read_image(p.with_name(f"{p.stem}_color.png")).shape[:2] == files.read_image(p).shape[:2]
               for p in inputs)


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.rglob(".*") if p.is_file()]


# Writing (class 5)

def test_stdout_closed_by_its_reader_the_batch_goes_on(tmp_path, pointwise_onnx):
    inputs = photos(tmp_path, 6)
    process = subprocess.Popen([*COMMAND, *map(str, inputs), "--model", str(pointwise_onnx)], env=ENVIRONMENT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # `colorize-run ... | head -0`: the reader is gone before the first line
    err = process.communicate(timeout=120)[1]
    assert process.returncode == 0 and err == "colorize-run: 6 colourised, 0 skipped\n"
    assert all_coloured(inputs) and no_temporary_files(tmp_path)


def test_stdout_closed_at_start(tmp_path, pointwise_onnx):
    inputs = photos(tmp_path, 2)
    result = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", *COMMAND, *map(str, inputs), "--model",
                             str(pointwise_onnx)], env=ENVIRONMENT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == "colorize-run: 2 colourised, 0 skipped\n"
    assert all_coloured(inputs)
    stdin = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", *COMMAND, "-", "--model", str(pointwise_onnx)],
                           env=ENVIRONMENT, input=inputs[0].read_bytes(), capture_output=True, timeout=120)
    assert stdin.returncode == 1
    assert stdin.stderr.decode() == "colorize-run: stdin: stdout is closed, nowhere to write the PNG (use -o FILE)\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_report_on_a_full_disk_is_one_line_and_exit_1_and_every_photo_is_done(run, tmp_path):
    inputs = photos(tmp_path, 3)
    code, out, err = run(*inputs, "--report", "/dev/full")
    assert code == 1 and len(out.splitlines()) == 3
    assert err.splitlines() == ["colorize-run: --report /dev/full: No space left on device; the report stops here, "
                                "the photos go on", "colorize-run: 3 colourised, 0 skipped"]
    assert all_coloured(inputs)


def test_force_never_replaces_a_fifo_or_a_device(run, tmp_path):
    photo = write_photo(tmp_path / "a.png")
    fifo = tmp_path / "a_color.png"
    os.mkfifo(fifo)
    code, _, err = run(photo, "--force")
    assert code == 1
    assert err.splitlines()[0] == f"colorize-run: {photo}: output {fifo} is not a regular file (a FIFO, device or " \
                                  "socket); refusing to replace it, even with --force"
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    code, _, err = run(photo, "-o", "/dev/null", "--force")
    assert code == 1 and "output /dev/null is not a regular file" in err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert no_temporary_files(tmp_path)


@pytest.mark.parametrize("suffix", ["/x", "../up", "sub/_c"])
def test_a_suffix_with_a_path_separator_is_a_usage_error(run, tmp_path, suffix):
    photo = write_photo(tmp_path / "a.png")
    before = tree(tmp_path.parent)
    code, out, err = run(photo, f"--suffix={suffix}")
    assert code == 2 and out == ""
    assert err == f"colorize-run: --suffix {suffix!r}: a path separator in a suffix would write elsewhere than " \
                  "beside the input (use -o for another folder)\n"
    assert tree(tmp_path.parent) == before


def test_sigterm_is_handled_like_ctrl_c_exit_143(tmp_path, pointwise_onnx):
    inputs = photos(tmp_path, 40, size=400)
    process = subprocess.Popen([*COMMAND, str(tmp_path), "-r", "--model", str(pointwise_onnx)], env=ENVIRONMENT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "00_color.png").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    err = process.communicate(timeout=60)[1]
    assert process.returncode == 143, err
    assert re.fullmatch(r"colorize-run: interrupted: \d+ written; the photo in progress was not\n", err), err
    assert no_temporary_files(tmp_path)
    outputs = sorted(tmp_path.glob("*_color.png"))
    assert 1 <= len(outputs) < 40 and all_coloured([p.with_name(p.name.replace("_color", "")) for p in outputs])
    assert len(inputs) == 40


def test_a_killed_runs_temporary_file_is_ours_and_the_next_run_sweeps_it(run, tmp_path):
    photo = write_photo(tmp_path / "a.png")
    target = tmp_path / "a_color.png"
    # a run killed outright (SIGKILL) in the middle of its write
    killed = subprocess.run([sys.executable, "-c", "import os, signal, sys; from pathlib import Path; "
                             "from colorize_runtime import leftovers; "
                             "leftovers.temporary_path(Path(sys.argv[1])).write_bytes(b'half a photo'); "
                             "os.kill(os.getpid(), signal.SIGKILL)", str(target)], env=ENVIRONMENT)
    assert killed.returncode == -signal.SIGKILL
    [left] = [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers.TEMPORARY.match(left.name)["name"] == "a_color.png"
    running = leftovers.temporary_path(target)  # a run still going (this process)
    running.write_bytes(b"in progress")
    elsewhere = tmp_path / f".a_color.png.colorize-{socket.gethostname()}x-1-0123abcd.tmp"  # another machine's
    elsewhere.write_bytes(b"another node")
    not_ours = tmp_path / ".a_color.png.0123abcd.tmp"
    not_ours.write_bytes(b"someone else's")
    code, _, err = run(photo)
    assert code == 0 and err == ""
    assert not left.exists() and running.exists() and elsewhere.exists() and not_ours.exists()
    assert files.read_image(target).shape == (32, 48, 3)


# Options and API (class 6)

@pytest.mark.parametrize("options,message", [
    (["--threads", str(machine_threads() + 1)],
     f"threads must be between 1 and {machine_threads()} (this machine's CPUs), not {machine_threads() + 1}"),
    (["--saturation", "inf"], f"argument --saturation: must be between 0 and {MAX_SATURATION:g}, not inf"),
    (["--saturation", "6"], f"argument --saturation: must be between 0 and {MAX_SATURATION:g}, not 6"),
    (["--saturation", "nan"], "argument --saturation: must be 0 or more, not nan"),
])
def test_options_beyond_their_range_are_usage_errors_exit_2(run, tmp_path, options, message):
    """The command line's own errors (argparse's usage, then its one line), or the Colorizer's (one line)."""
    photo = write_photo(tmp_path / "a.png")
    before = tree(tmp_path)
    code, out, err = run(photo, *options)
    assert code == 2 and out == "" and message in err.splitlines()[-1], err
    assert tree(tmp_path) == before


@pytest.mark.parametrize("keywords,message", [
    ({"stride": 0}, "stride must be a whole number, 1 or more, not 0"),
    ({"stride": 2.5}, "stride must be a whole number"),
    ({"size": "abc"}, "size must be a whole number, 1 or more, not 'abc'"),
    ({"size": 0}, "size must be a whole number"),
    ({"batch": -1}, "batch must be a whole number"),
    ({"threads": True}, "threads must be between 1 and"),
    ({"threads": 10_000}, "threads must be between 1 and"),
    ({"saturation": math.nan}, "saturation must be a number between 0 and"),
    ({"saturation": "1"}, "saturation must be a number between 0 and"),
    ({"model": 123}, "model must be a shipped model's name or a path, not int"),
    ({"model": ["a.onnx"]}, "model must be a shipped model's name or a path, not list"),
    ({"model": ""}, "model must be a shipped model's name or a path, not ''"),
])
def test_the_api_raises_colorize_error_with_the_reason(pointwise_onnx, keywords, message):
    with pytest.raises(ColorizeError, match=re.escape(message)):
        Colorizer(**{"model": pointwise_onnx, "providers": "cpu", **keywords})


def test_numpy_numbers_are_good_option_values(pointwise_onnx):
    colorizer = Colorizer(pointwise_onnx, providers="cpu", stride=np.int64(64), size=np.int32(100),
                          saturation=np.float32(0.5))
    assert colorizer.stride == 64


def test_a_newline_in_a_file_name_is_escaped_in_the_one_line_message(run, tmp_path):
    bad = tmp_path / "two\nlines.png"
    bad.write_bytes(b"not an image at all")
    good = write_photo(tmp_path / "good\x1b[31m.png")
    code, out, err = run(bad, good)
    assert code == 1
    escaped_bad = str(bad).replace("\n", "\\n")
    assert err.splitlines() == [f"colorize-run: {escaped_bad}: not an image (JPEG, PNG, TIFF, WebP and BMP are "
                                "supported)", "colorize-run: 1 of 2 files failed (1 colourised, 0 skipped)"]
    assert out.count("\n") == 1 and "\\x1b[31m.png -> " in out


def test_r_on_an_empty_folder_says_it_is_empty(run, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no photos here")
    code, _, err = run(tmp_path / "empty", "-r")
    assert code == 1
    assert err.splitlines()[0] == f"colorize-run: {tmp_path / 'empty'}: is a folder with no photos or videos to " \
                                  "colourise in it"
    assert tree(tmp_path) == {"empty/notes.txt": b"no photos here"}


def test_a_multi_page_tiff_and_an_animated_png_say_the_first_frame_was_used(run, tmp_path):
    pages = [Image.fromarray(photo_like(24, 32, seed=i)) for i in range(3)]
    tiff, animated = tmp_path / "pages.tif", tmp_path / "moving.png"
    pages[0].save(tiff, save_all=True, append_images=pages[1:])
    buffer = BytesIO()
    pages[0].save(buffer, "PNG", save_all=True, append_images=pages[1:2], duration=100)
    animated.write_bytes(buffer.getvalue())
    code, _, err = run(tiff, animated)
    assert code == 0
    assert err.splitlines() == [f"colorize-run: {tiff}: 3 pages: only the first was colourised",
                                f"colorize-run: {animated}: 2 frames: only the first was colourised",
                                "colorize-run: 2 colourised, 0 skipped"]
    assert files.read_image(tmp_path / "pages_color.tif").shape == (24, 32, 3)
    assert files.read_image(tmp_path / "moving_color.png").shape == (24, 32, 3)
