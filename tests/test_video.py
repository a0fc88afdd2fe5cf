"""Videos through colorize-run and the Python API, on small clips made here with PyAV: what is kept (frames, size,
rate, duration, rotation, sound), colour added and steady, bad input, Ctrl-C."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from colorize_runtime import Colorizer, files
from colorize_runtime.cli import main
from colorize_runtime.errors import ColorizeError
from tests.conftest import REPOSITORY, photo_like

av = pytest.importorskip("av")

MESSAGE = re.compile(r"^colorize-run: (.+): (.+)$")
RATE = 10
SAMPLE_RATE = 8000


@pytest.fixture
def run(pointwise_onnx, capsys):
    """main() with the fast stand-in model: (exit code, stdout, stderr)."""
    def run_main(*argv: str | Path):
        code = main([str(a) for a in argv] + ["--model", str(pointwise_onnx)])
        out, err = capsys.readouterr()
        return code, out, err
    return run_main


def moving_shapes(count: int, height: int, width: int, grain: float = 0.0, seed: int = 0):
    """Gray frames: a bright square and a dark disc moving over a gradient, with optional grain."""
    rng = np.random.default_rng(seed)
    background = np.tile(np.linspace(40, 200, width, dtype=np.float32), (height, 1))
    for index in range(count):
        frame = background.copy()
        x = 4 + index % max(1, width - 20)
        frame[height // 4:height // 4 + 12, x:x + 12] = 240
        cv2.circle(frame, (width - 10 - x // 2, 3 * height // 4), 6, 20, -1)
        if grain:
            frame += rng.normal(0, grain, frame.shape).astype(np.float32)
        yield np.clip(frame, 0, 255).astype(np.uint8)


def panned_photo(count: int, height: int, width: int):
    """A colourful generated photo, turned gray, panned one pixel a frame."""
    photo = cv2.cvtColor(photo_like(height, width + count, 3), cv2.COLOR_BGR2GRAY)
    for index in range(count):
        yield photo[:, index:index + width]


def write_clip(path: Path, frames, rate: int = RATE, audio: bool = True, codec: str = "libx264",
               rotation: int = 0, audio_codec: str = "aac", options: dict | None = None) -> Path:
    """A clip of gray frames in path's container, with a 440 Hz sine track as long as the video; options: the
    muxer's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = list(frames)
    with av.open(str(path), "w", options=options or {}) as output:
        video = output.add_stream(codec, rate=rate)
        video.height, video.width = frames[0].shape
        video.pix_fmt = "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        sound = output.add_stream(audio_codec, rate=SAMPLE_RATE, layout="mono") if audio else None
        sample_format = sound.codec_context.format.name if sound else None
        samples_per_frame = SAMPLE_RATE // rate
        for index, gray in enumerate(frames):
            for packet in video.encode(av.VideoFrame.from_ndarray(gray, format="gray")):
                output.mux(packet)
            if sound is not None:
                t = (index * samples_per_frame + np.arange(samples_per_frame)) / SAMPLE_RATE
                wave = 0.3 * np.sin(2 * np.pi * 440 * t)[None]
                wave = (wave * 32767).astype(np.int16) if sample_format == "s16" else wave.astype(np.float32)
                chunk = av.AudioFrame.from_ndarray(wave, format=sample_format, layout="mono")
                chunk.sample_rate, chunk.pts = SAMPLE_RATE, index * samples_per_frame
                for packet in sound.encode(chunk):
                    output.mux(packet)
        for stream in (video, sound) if sound else (video,):
            for packet in stream.encode():
                output.mux(packet)
    return path


def read_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def video_facts(path: Path) -> dict:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return {"frames": len(frames), "size": (frames[0].width, frames[0].height), "rate": stream.average_rate,
                "time_base": stream.time_base, "pts": [frame.pts for frame in frames],
                "duration": container.duration, "rotation": frames[0].rotation, "codec": stream.codec_context.name}


def audio_packets(path: Path) -> list[tuple[bytes, float]]:
    with av.open(str(path)) as container:
        return [(bytes(packet), float(packet.pts * packet.time_base))
                for packet in container.demux(audio=0) if packet.size]


def ab_planes(frames: list[np.ndarray]) -> np.ndarray:
    return np.stack([cv2.cvtColor(f.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)[..., 1:] for f in frames])


def flicker(frames: list[np.ndarray]) -> float:
    """Mean absolute change of ab between consecutive frames."""
    ab = ab_planes(frames)
    return float(np.abs(np.diff(ab, axis=0)).mean())


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.startswith(".") and p.name.endswith(".tmp")]


# What is kept

def test_a_clip_keeps_its_frames_size_rate_timing_and_sound(run, tmp_path):
    clip = write_clip(tmp_path / "film.mp4", moving_shapes(12, 48, 64))
    code, out, err = run(clip)
    assert code == 0, err
    target = tmp_path / "film_color.mp4"
    assert f"{clip} -> {target}" in out
    source, result = video_facts(clip), video_facts(target)
    assert result["codec"] == "h264"
    for fact in ("frames", "size", "rate", "time_base", "pts", "duration"):
        assert result[fact] == source[fact], fact
    assert audio_packets(target) == audio_packets(clip) and len(audio_packets(clip)) > 5


def test_colour_is_added_to_a_gray_clip(run, tmp_path):
    clip = write_clip(tmp_path / "film.mp4", panned_photo(8, 48, 64), audio=False)
    assert run(clip)[0] == 0
    chroma = np.hypot(*np.moveaxis(ab_planes(read_frames(tmp_path / "film_color.mp4")), -1, 0))
    gray_chroma = np.hypot(*np.moveaxis(ab_planes(read_frames(clip)), -1, 0))
    assert gray_chroma.mean() < 1.5 and chroma.mean() > 8


def test_rotation_metadata_is_kept(run, tmp_path):
    clip = write_clip(tmp_path / "phone.mov", moving_shapes(4, 48, 64), rotation=90, audio=False)
    assert run(clip)[0] == 0
    facts = video_facts(tmp_path / "phone_color.mov")
    assert facts["rotation"] == 90 and facts["size"] == (64, 48)


def test_containers_keep_their_family(run, tmp_path):
    write_clip(tmp_path / "a.avi", moving_shapes(4, 48, 64), codec="mpeg4", audio=False)
    write_clip(tmp_path / "b.mkv", moving_shapes(4, 48, 64))
    code, _, err = run(tmp_path / "a.avi", tmp_path / "b.mkv", "-v")
    assert code == 0, err
    assert re.search(rf"colorize-run: {re.escape(str(tmp_path / 'a.avi'))}: 4 frames, [\d.]+ frames per second", err)
    assert video_facts(tmp_path / "a_color.mkv")["frames"] == 4
    assert audio_packets(tmp_path / "b_color.mkv") == audio_packets(tmp_path / "b.mkv")


def test_a_stream_the_output_container_cannot_hold_gets_a_note(run, tmp_path):
    clip = write_clip(tmp_path / "old.mov", moving_shapes(4, 48, 64), audio_codec="pcm_mulaw")
    code, out, err = run(clip, "-o", tmp_path / "new.mp4")
    assert code == 0
    assert err == f"colorize-run: {clip}: audio stream 1 (pcm_mulaw) not copied: mp4 cannot hold it\n"
    assert video_facts(tmp_path / "new.mp4")["frames"] == 4
    assert run(clip)[2] == ""  # QuickTime stays QuickTime, which holds it
    assert audio_packets(tmp_path / "old_color.mov") == audio_packets(clip)


def test_a_folder_of_photos_and_videos_with_o(run, tmp_path):
    write_clip(tmp_path / "in/trip/film.mp4", moving_shapes(4, 48, 64), audio=False)
    (tmp_path / "in/photo.png").write_bytes(files.encode_image(photo_like(32, 48), ".png"))
    code, _, err = run(tmp_path / "in", "-r", "-o", tmp_path / "out", "--suffix=-c", "--crf", "30")
    assert code == 0, err
    assert video_facts(tmp_path / "out/trip/film-c.mp4")["frames"] == 4
    assert files.read_image(tmp_path / "out/photo-c.png").shape == (32, 48, 3)
    assert run(tmp_path / "in", "-r", "-o", tmp_path / "out", "--suffix=-c")[0] == 0  # skipped, not redone
    assert run(tmp_path / "in", "-r", "-o", tmp_path / "out", "--suffix=-c", "--force")[0] == 0


# Steady colour

def test_temporal_smoothing_lowers_flicker_on_a_grainy_static_scene(pointwise_onnx, tmp_path):
    clip = write_clip(tmp_path / "grain.mp4", (next(moving_shapes(1, 48, 64, grain=12, seed=i)) for i in range(12)),
                      audio=False)
    colorizer = Colorizer(pointwise_onnx)
    measured = {}
    for strength, interval in ((0, 1), (0.8, None)):  # each frame alone, the default
        target = tmp_path / f"out{strength}.mp4"
        colorizer.colorize_video(clip, target, temporal_smoothing=strength, network_interval=interval, crf=10)
        measured[strength] = flicker(read_frames(target))
    assert measured[0.8] < 0.6 * measured[0], measured


def test_the_frame_iterator_smooths_and_resets_at_a_cut(pointwise_onnx):
    colorizer = Colorizer(pointwise_onnx)
    grainy = [next(moving_shapes(1, 48, 64, grain=12, seed=i)) for i in range(8)]
    scene_cut = grainy + list(panned_photo(4, 48, 64))
    alone = list(colorizer.colorize_frames(scene_cut, temporal_smoothing=0, network_interval=1))
    smoothed = list(colorizer.colorize_frames(scene_cut))
    assert all(frame.shape == (48, 64, 3) and frame.dtype == np.uint8 for frame in smoothed)
    assert flicker(smoothed[:8]) < 0.6 * flicker(alone[:8])
    # after the cut the new scene's colour is not mixed with the old one's
    assert np.abs(ab_planes(smoothed[8:9]) - ab_planes(alone[8:9])).mean() < 0.5


def test_the_network_sees_every_nth_frame_and_the_first_after_a_cut(pointwise_onnx, monkeypatch):
    colorizer = Colorizer(pointwise_onnx)
    seen = []
    network = colorizer.colour_of_lightness
    monkeypatch.setattr(colorizer, "colour_of_lightness", lambda plane, **kw: seen.append(1) or network(plane, **kw))
    cut = list(moving_shapes(2, 48, 64)) + list(panned_photo(8, 48, 64))
    every = list(colorizer.colorize_frames(cut, temporal_smoothing=0, network_interval=1))
    assert len(seen) == len(cut)
    seen.clear()
    third = list(colorizer.colorize_frames(cut, temporal_smoothing=0, network_interval=3))
    assert len(seen) == 4  # frame 0, the new scene at frame 2 (due to be carried), then frames 5 and 8
    assert all(frame.shape == (48, 64, 3) for frame in third)
    # the frames between carry the colour along the pan: what the network says on them, unlike the last
    # network frame's colour left where it was
    carried = np.abs(ab_planes(third[2:]) - ab_planes(every[2:])).mean()
    stale = np.abs(ab_planes(every[2:-1]) - ab_planes(every[3:])).mean()
    assert carried < 0.2 * stale, (carried, stale)
    with pytest.raises(ColorizeError, match="network interval"):
        list(colorizer.colorize_frames(cut, network_interval=0))


# Bad input

def test_bad_videos_get_one_line_each_and_the_good_ones_are_written(run, tmp_path):
    good = write_clip(tmp_path / "good.mp4", moving_shapes(6, 48, 64))
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "half.mp4").write_bytes(good.read_bytes()[:good.stat().st_size // 2])
    (tmp_path / "notes.mp4").write_text("not a film at all\n" * 20)
    with av.open(str(tmp_path / "sound.mp4"), "w") as output:  # audio only
        sound = output.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="fltp", layout="mono")
        chunk.sample_rate = SAMPLE_RATE
        for packet in [*sound.encode(chunk), *sound.encode()]:
            output.mux(packet)
    also_good = write_clip(tmp_path / "also_good.mkv", moving_shapes(6, 48, 64))
    bad = {"empty.mp4": "empty file", "half.mp4": "truncated or damaged", "notes.mp4": "not a video",
           "sound.mp4": "no video stream"}
    code, _, err = run(*sorted(tmp_path.iterdir()))
    assert code == 1
    lines = err.splitlines()
    for name, reason in bad.items():
        [line] = [line for line in lines if line.startswith(f"colorize-run: {tmp_path / name}: ")]
        assert reason in MESSAGE.match(line).group(2), line
        assert not list(tmp_path.glob(f"{Path(name).stem}_color.*"))
    assert lines[-1] == "colorize-run: 4 of 6 files failed (2 colourised, 0 skipped)"
    assert video_facts(tmp_path / "good_color.mp4")["frames"] == 6
    assert video_facts(tmp_path / "also_good_color.mkv")["frames"] == 6
    assert no_temporary_files(tmp_path) and also_good.exists()


def test_a_video_without_the_video_extra_says_what_to_install(run, tmp_path, monkeypatch):
    clip = write_clip(tmp_path / "film.mp4", moving_shapes(2, 48, 64), audio=False)
    monkeypatch.setitem(sys.modules, "av", None)  # import av now fails, as without PyAV
    code, _, err = run(clip)
    assert code == 1
    assert f"colorize-run: {clip}: reading videos needs PyAV: pip install 'av==18.1.0'" in err


def test_the_input_is_never_overwritten(run, tmp_path):
    clip = write_clip(tmp_path / "film.mp4", moving_shapes(2, 48, 64), audio=False)
    before = clip.read_bytes()
    code, _, err = run(clip, "-o", clip, "--force")
    assert code == 1 and "is the input itself" in err
    assert clip.read_bytes() == before


def test_a_real_sigint_mid_video_leaves_no_file(pointwise_onnx, tmp_path):
    # long enough that the signal, 0.2 s into the frames, comes before the end on a fast, quiet machine (300
    # frames with the tiny test model were done in about that time: exit 0)
    clip = write_clip(tmp_path / "long.mp4", panned_photo(1200, 96, 128), audio=False)
    env = {**os.environ, "PYTHONPATH": f"{REPOSITORY / 'runtime'}{os.pathsep}{REPOSITORY}"}
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)  # see test_cli's SIGINT test
    try:
        process = subprocess.Popen([sys.executable, "-m", "colorize_runtime", str(clip), "--model",
                                    str(pointwise_onnx)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    finally:
        signal.signal(signal.SIGINT, ignored)
    deadline = time.monotonic() + 60
    while no_temporary_files(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # into the frames
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]


def test_api_refuses_bad_options_before_touching_anything(pointwise_onnx, tmp_path):
    clip = write_clip(tmp_path / "film.mp4", moving_shapes(2, 48, 64), audio=False)
    colorizer = Colorizer(pointwise_onnx)
    for options, message in (({"temporal_smoothing": 1}, "below 1"), ({"crf": 60}, "between 0 and 51")):
        with pytest.raises(ColorizeError, match=message):
            colorizer.colorize_video(clip, tmp_path / "out.mp4", **options)
    with pytest.raises(ColorizeError, match="cannot write .webm"):
        colorizer.colorize_video(clip, tmp_path / "out.webm")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]
    result = colorizer.colorize_video(clip, tmp_path / "out.mkv")
    assert (result.frames, result.width, result.height) == (2, 64, 48)
    assert result.target == tmp_path / "out.mkv" and Fraction(video_facts(result.target)["rate"]) == RATE
