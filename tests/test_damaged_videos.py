"""Videos (issue 28, class 3): truncation decided from the stream's own frame count and duration (a cut at 90 %
refused, complete films at 1 frame a second accepted), tiny films coloured without optical flow, --max-pixels
for the frame size. Clips are made here with PyAV."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from colorize_runtime import video
from tests.test_cli import run_subprocess
from tests.test_video import moving_shapes, no_temporary_files, run, video_facts, write_clip  # noqa: F401 (fixture)

av = pytest.importorskip("av")


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def gray_clip(path: Path, height: int, width: int, count: int = 5, rate: int = 10, codec: str = "ffv1",
              options: dict | None = None) -> Path:
    """A clip of gray noise in any size (FFV1 in Matroska takes 1 x 1), or H.264 with muxer options."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options=options or {}) as output:
        stream = output.add_stream(codec, rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "gray" if codec == "ffv1" else "yuv420p"
        for _ in range(count):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (height, width), dtype=np.uint8), format="gray")
            for packet in stream.encode(frame if codec == "ffv1" else frame.reformat(format="yuv420p")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return path


def cut(path: Path, fraction: float = 0.9) -> Path:
    data = path.read_bytes()
    target = path.with_name(f"cut-{path.name}")
    target.write_bytes(data[:int(len(data) * fraction)])
    path.unlink()
    return target


@pytest.mark.parametrize("extension", [".mp4", ".mkv"])
def test_a_complete_film_at_one_frame_a_second_is_not_called_truncated(run, tmp_path, extension):
    clip = write_clip(tmp_path / f"slow{extension}", moving_shapes(3, 48, 64), rate=1)
    code, _, err = run(clip)
    assert code == 0 and err == ""
    assert video_facts(tmp_path / f"slow_color{extension}")["frames"] == 3


def test_films_cut_at_90_percent_are_refused_with_one_line_each(tmp_path, pointwise_onnx):
    """Matroska (no frame count: its duration) and MP4 with its index first (the frame count it announces)."""
    mkv = cut(write_clip(tmp_path / "film.mkv", moving_shapes(40, 48, 64)))
    mp4 = cut(gray_clip(tmp_path / "film.mp4", 48, 64, count=40, codec="libx264",
                        options={"movflags": "faststart"}))
    before = tree(tmp_path)
    result = run_subprocess(mkv, mp4, "--model", pointwise_onnx, text=True, timeout=300)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 3, result.stderr
    assert lines[0].startswith(f"colorize-run: {mkv}: truncated video: it ends at 3.")
    assert lines[0].endswith(" s of 4.00 s")
    assert lines[1].startswith(f"colorize-run: {mp4}: truncated video: ") and lines[1].endswith(" of 40 frames "
                                                                                               "could be decoded")
    assert lines[2] == "colorize-run: 2 of 2 files failed (0 colourised, 0 skipped)"
    assert tree(tmp_path) == before  # nothing written, nothing left behind


def test_complete_films_with_their_index_first_or_without_sound_pass(run, tmp_path):
    clips = [gray_clip(tmp_path / "faststart.mp4", 48, 64, count=12, codec="libx264",
                       options={"movflags": "faststart"}),
             write_clip(tmp_path / "silent.mkv", moving_shapes(12, 48, 64), audio=False),
             write_clip(tmp_path / "sound.mkv", moving_shapes(12, 48, 64))]
    code, _, err = run(*clips)
    assert code == 0 and err.strip() == "colorize-run: 3 colourised, 0 skipped"


@pytest.mark.parametrize("height,width", [(1, 1), (3, 5), (8, 8), (11, 12), (1, 40)])
def test_tiny_films_are_coloured_without_optical_flow(run, tmp_path, height, width):
    clip = gray_clip(tmp_path / "tiny.mkv", height, width)
    code, _, err = run(clip)
    assert code == 0 and err == ""
    facts = video_facts(tmp_path / "tiny_color.mkv")
    assert facts["frames"] == 5 and facts["size"] == (width, height)
    assert no_temporary_files(tmp_path)


def test_tiny_frames_through_the_api_frame_iterator(pointwise_onnx):
    from colorize_runtime import Colorizer

    frames = [np.full((4, 6), value, np.uint8) for value in (10, 200, 10, 200, 90)]
    coloured = list(Colorizer(pointwise_onnx, providers="cpu").colorize_frames(frames))
    assert [frame.shape for frame in coloured] == [(4, 6, 3)] * 5


def test_max_pixels_applies_to_a_films_frame_size(run, tmp_path, monkeypatch):
    clip = write_clip(tmp_path / "film.mp4", moving_shapes(4, 48, 64), audio=False)
    before = tree(tmp_path)
    monkeypatch.setattr(video, "_transcode", lambda *args: pytest.fail("a frame was decoded"))
    code, _, err = run(clip, "--max-pixels", "3000")
    assert code == 1
    assert err.splitlines() == [f"colorize-run: {clip}: 64x48 = 3,072 pixels a frame, over the max-pixels limit "
                                "of 3,000", "colorize-run: 1 of 1 files failed (0 colourised, 0 skipped)"]
    assert tree(tmp_path) == before
    monkeypatch.undo()
    assert run(clip, "--max-pixels", "3072")[0] == 0
