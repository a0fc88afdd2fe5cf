"""colorize-run's guided colour: --hint, --hints, --reference and --suggest, and their errors (exit 2, one line,
nothing written). Runs the shipped guided model (a few windows a test)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from colorize_runtime import colour, files, guided
from colorize_runtime.cli import main
from tests.conftest import SAMPLE_PHOTO, photo_like

ONE_LINE = re.compile(r"^colorize-run: [^\n]+\n$")


@pytest.fixture
def run(capsys):
    def run_main(*argv):
        code = main([str(a) for a in argv] + ["--threads", "2"])
        out, err = capsys.readouterr()
        return code, out, err
    return run_main


def gray_photo(path, height=120, width=180, value=120):
    image = np.full((height, width), value, np.uint8)
    image[30:90, 40:140] = value - 40
    path.write_bytes(files.encode_image(image, path.suffix))
    return path


def pinned_ab(color, gray_level):
    """The hint's a, b with the photo's lightness there, clipped into the sRGB gamut as the output is."""
    lightness = float(colour.gray_to_lightness(np.array([[gray_level]], np.uint8))[0, 0])
    return np.array(guided.colour_ab(guided.lab_hex(lightness, guided.colour_ab(color))))


def blue_photo(path):
    """A plain blue colour photo, to use as a reference."""
    blue = np.zeros((32, 32, 3), np.uint8)
    blue[:] = (200, 90, 30)
    path.write_bytes(files.encode_image(blue, ".png"))
    return path


def ab_at(path, x, y):
    image = files.read_image(path)
    return colour.bgr_to_lab(np.ascontiguousarray(image[y:y + 1, x:x + 1]))[0, 0, 1:]


def test_hint_colours_the_photo_where_pinned(run, tmp_path):
    photo = gray_photo(tmp_path / "p.png")
    code, out, err = run(photo, "--hint", "90,60,#2050d0", "--hint", "10,10,orange")
    assert code == 0, err
    result = tmp_path / "p_color.png"
    assert files.read_image(result).shape == (120, 180, 3)
    assert np.linalg.norm(ab_at(result, 90, 60) - pinned_ab("#2050d0", 80)) < 5
    assert np.linalg.norm(ab_at(result, 10, 10) - pinned_ab("orange", 120)) < 5


def test_hints_file_for_a_batch_keyed_by_name(run, tmp_path):
    first, second = gray_photo(tmp_path / "a.png"), gray_photo(tmp_path / "b.png")
    hints = tmp_path / "hints.json"
    hints.write_text(json.dumps({"a.png": [{"x": 90, "y": 60, "color": "#d03020"}],
                                 "b.png": [{"x": 90, "y": 60, "color": "#20a040"}]}))
    code, _, err = run(first, second, "--hints", hints)
    assert code == 0, err
    assert np.linalg.norm(ab_at(tmp_path / "a_color.png", 90, 60) - pinned_ab("#d03020", 80)) < 5
    assert np.linalg.norm(ab_at(tmp_path / "b_color.png", 90, 60) - pinned_ab("#20a040", 80)) < 5


def test_reference_guides_every_photo(run, tmp_path):
    photo = gray_photo(tmp_path / "p.png")
    reference = blue_photo(tmp_path / "ref.png")
    code, _, err = run(photo, "--reference", reference, "-o", tmp_path / "blue.png")
    assert code == 0, err
    code, _, err = run(photo, "-o", tmp_path / "auto.png")
    assert code == 0, err
    mean_b = {name: colour.bgr_to_lab(files.read_image(tmp_path / f"{name}.png"))[..., 2].mean()
              for name in ("blue", "auto")}
    assert mean_b["blue"] < mean_b["auto"]


def test_suggest_prints_colours_and_writes_nothing(run, tmp_path):
    photo = tmp_path / "s.jpg"
    photo.write_bytes(SAMPLE_PHOTO.read_bytes())
    code, out, err = run(photo, "--suggest", "250,60")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert 1 <= len(lines) <= guided.SUGGESTIONS
    for line in lines:
        assert re.fullmatch(r"#[0-9a-f]{6} 0\.\d{2}", line)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.jpg"]


@pytest.mark.parametrize("options, reason", [
    (["--hint", "500,10,red"], "outside the 180x120 photo"),
    (["--hint", "10,10,reddish"], "unknown colour"),
    (["--hint", "10,red"], "not X,Y,COLOR"),
    (["--hints", "{missing}"], "cannot read the hints file"),
    (["--hints", "{not_json}"], "not JSON"),
    (["--hints", "{bad_schema}"], "expected a list"),
    (["--hints", "{unknown_name}"], "match no input"),
    (["--reference", "{gray_reference}"], "has no colour"),
    (["--reference", "{missing}"], "not a readable colour photo"),
    (["--suggest", "1"], "not X,Y"),
    (["--model", "classification", "--hint", "1,1,red"], "takes no hints"),
])
def test_bad_guidance_is_a_usage_error_and_nothing_is_written(run, tmp_path, options, reason):
    photo = gray_photo(tmp_path / "p.png")
    paths = {"missing": tmp_path / "missing.json", "not_json": tmp_path / "n.json",
             "bad_schema": tmp_path / "s.json", "unknown_name": tmp_path / "u.json",
             "gray_reference": tmp_path / "gray.png"}
    paths["not_json"].write_text("{oops")
    paths["bad_schema"].write_text('"red"')
    paths["unknown_name"].write_text(json.dumps({"other.png": []}))
    paths["gray_reference"].write_bytes(files.encode_image(photo_like(20, 20, channels=1), ".png"))
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run(photo, *[o.format(**{k: str(v) for k, v in paths.items()}) for o in options])
    assert code == 2
    assert ONE_LINE.match(err) and reason in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_reference_strength_without_a_reference_is_a_usage_error(run, tmp_path):
    photo = gray_photo(tmp_path / "p.png")
    for options in (["--reference-strength", "2"], ["--reference", blue_photo(tmp_path / "ref.png"),
                                                    "--reference-strength", "3.5"]):
        code, _, err = run(photo, *options)
        assert code == 2 and ONE_LINE.match(err), err
        assert "--reference-strength needs --reference" in err or "between 0 and 3" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png", "ref.png"]


def test_reference_guides_every_frame_of_a_video(run, tmp_path):
    av = pytest.importorskip("av")
    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(4):
            frame = np.full((48, 64, 3), 90 + 10 * index, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    reference = blue_photo(tmp_path / "ref.png")
    code, _, err = run(clip, "--reference", reference, "-o", tmp_path / "blue.mp4")
    assert code == 0, err
    code, _, err = run(clip, "--hint", "1,1,red")
    assert code == 2 and "a video takes --reference" in err
    code, _, err = run(clip, "--model", "guided", "-o", tmp_path / "automatic.mp4")
    assert code == 0, err
    code, _, err = run(clip, "--reference", reference, "--reference-strength", "2", "-o", tmp_path / "bluer.mp4")
    assert code == 0, err
    mean_b = {}
    for name in ("blue", "bluer", "automatic"):
        with av.open(str(tmp_path / f"{name}.mp4")) as container:
            mean_b[name] = [colour.bgr_to_lab(f.to_ndarray(format="bgr24"))[..., 2].mean()
                            for f in container.decode(video=0)]
    assert len(mean_b["blue"]) == 4
    # every frame bluer (b lower) than without the reference
    assert all(ours < automatic - 1 for ours, automatic in zip(mean_b["blue"], mean_b["automatic"])), mean_b
    assert all(twice < once - 1 for twice, once in zip(mean_b["bluer"], mean_b["blue"])), mean_b  # the strength
