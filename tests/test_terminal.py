"""colorize-run in an interactive shell: stdin, stdout and stderr on a terminal (a pseudo-terminal here), where the
progress bars are drawn. With stderr redirected, as in the other tests, no bar is made, so only these runs
exercise them."""
from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from colorize_runtime import files
from tests.conftest import REPOSITORY, photo_like


def on_a_terminal(*argv) -> tuple[int, str]:
    """colorize-run with its standard streams on a new pseudo-terminal of 24 x 100: (exit code, what it showed)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # rows, columns
    env = {**os.environ, "PYTHONPATH": f"{REPOSITORY / 'runtime'}{os.pathsep}{REPOSITORY}", "TERM": "xterm",
           "TQDM_MININTERVAL": "0"}  # every update drawn: a short clip is done within tqdm's usual 0.1 s
    process = subprocess.Popen([sys.executable, "-m", "colorize_runtime", *map(str, argv)], env=env,
                               stdin=terminal, stdout=terminal, stderr=terminal, start_new_session=True)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # every end of the terminal closed: the process is done
            break
        if not chunk:
            break
        shown += chunk
    code = process.wait(timeout=120)
    os.close(controller)
    return code, shown.decode(errors="replace")


def write_photo(path: Path, seed: int = 0) -> Path:
    path.write_bytes(files.encode_image(photo_like(32, 48, seed=seed), path.suffix))
    return path


def test_one_photo_on_a_terminal(pointwise_onnx, tmp_path):
    photo = write_photo(tmp_path / "photo.jpg")
    code, shown = on_a_terminal(photo, "--model", pointwise_onnx)
    assert code == 0, shown
    assert f"{photo} -> {tmp_path / 'photo_color.jpg'}" in shown and "Traceback" not in shown
    assert files.read_image(tmp_path / "photo_color.jpg").shape == (32, 48, 3)


def test_many_photos_on_a_terminal_get_a_progress_bar_in_photos(pointwise_onnx, tmp_path):
    photos = [write_photo(tmp_path / f"{index}.png", seed=index) for index in range(3)]
    code, shown = on_a_terminal(*photos, "--model", pointwise_onnx)
    assert code == 0, shown
    assert re.search(r"\| 0/3 \[.*photo/s", shown) and "3 colourised, 0 skipped" in shown
    assert all(photo.with_name(f"{photo.stem}_color.png").is_file() for photo in photos)


def test_a_video_on_a_terminal_gets_a_progress_bar_in_frames(pointwise_onnx, tmp_path):
    pytest.importorskip("av")
    from tests.test_video import moving_shapes, read_frames, write_clip

    clip = write_clip(tmp_path / "film.mp4", moving_shapes(12, 48, 64))
    code, shown = on_a_terminal(clip, "--model", pointwise_onnx)
    assert code == 0, shown
    assert "Traceback" not in shown and f"{clip} -> {tmp_path / 'film_color.mp4'}" in shown
    assert re.search(r"film\.mp4: +\d+%\|.*\| *\d+/12 \[.*frame/s", shown)  # tqdm's bar: frames of the 12
    assert len(read_frames(tmp_path / "film_color.mp4")) == 12


def test_a_video_whose_frame_count_is_unknown_gets_a_counter(pointwise_onnx, tmp_path):
    """Matroska stores no frame count: the bar counts frames without a total."""
    pytest.importorskip("av")
    from tests.test_video import moving_shapes, read_frames, write_clip

    clip = write_clip(tmp_path / "film.mkv", moving_shapes(12, 48, 64), audio=False)
    code, shown = on_a_terminal(clip, "--model", pointwise_onnx)
    assert code == 0, shown
    assert "Traceback" not in shown and re.search(r"film\.mkv: \d+ ?frame", shown)
    assert len(read_frames(tmp_path / "film_color.mkv")) == 12
