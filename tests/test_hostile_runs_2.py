"""Runs a hostile tester made in round 2 (issue 36): a report that could overwrite what the run reads, error lines
lost while a photo is decoded, a closed stderr, empty or unbounded guidance, tampered models, colours and names
out of range, and API arguments of every wrong kind. Each asserts what a user sees: the exit code, the one stderr
line, and that no input was changed."""
from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest

from colorize_runtime import Colorizer, colour, files, guided
from colorize_runtime.errors import ColorizeError
from tests.conftest import photo_like, pointwise_model
from tests.test_bad_models import GRID_CELLS, guided_like
from tests.test_cli import run, write_photo  # noqa: F401 (fixture)
from tests.test_hostile_runs import COMMAND, ENVIRONMENT, tree


def gray_photo(path, height=40, width=60):
    path.write_bytes(files.encode_image(photo_like(height, width, 1), path.suffix))
    return path


def colour_photo(path):
    blue = np.zeros((32, 32, 3), np.uint8)
    blue[:] = (200, 90, 30)
    path.write_bytes(files.encode_image(blue, ".png"))
    return path


# 1. The report is never a file the run reads

@pytest.mark.parametrize("read", ["photo", "reference", "hints", "model"])
def test_the_report_is_never_a_file_the_run_reads_not_even_through_a_hard_link(run, tmp_path, pointwise_onnx, read):
    photo = gray_photo(tmp_path / "in.png")
    model = tmp_path / "model.onnx"
    model.write_bytes(pointwise_onnx.read_bytes())
    hints = tmp_path / "hints.json"
    hints.write_text('[{"x": 5, "y": 5, "color": "red"}]')
    read_files = {"photo": photo, "reference": colour_photo(tmp_path / "ref.png"), "hints": hints, "model": model}
    options = {"reference": ["--reference", read_files["reference"]], "hints": ["--hints", hints]}.get(read, [])
    link = tmp_path / "link"
    os.link(read_files[read], link)
    before = tree(tmp_path)
    code, out, err = run(photo, "-o", tmp_path / "out.png", "--report", link, *options,
                         model=None if options else model)
    assert code == 2 and out == ""
    assert err == f"colorize-run: --report {link}: that is {read_files[read]}, which this run reads or writes; " \
                  "refusing to overwrite it\n"
    assert tree(tmp_path) == before


# 2. and 4. stderr: never lost, never missing

def test_an_error_line_is_not_lost_while_a_large_first_photo_is_decoded(tmp_path):
    """The reader thread decodes the first photo while the model loads, with descriptor 2 lent to a capture file;
    a missing model's line printed meanwhile, and the exit that follows, must still reach stderr."""
    y, x = np.mgrid[0:4000, 0:6000].astype(np.float32)
    photo = tmp_path / "large.jpg"
    photo.write_bytes(files.encode_image((127 + 100 * np.sin(x / 37) * np.cos(y / 53)).astype(np.uint8), ".jpg"))
    for _ in range(3):
        result = subprocess.run([*COMMAND, str(photo), "--model", str(tmp_path / "missing.onnx")], env=ENVIRONMENT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2
        assert result.stderr == f"colorize-run: {tmp_path / 'missing.onnx'}: model file not found\n"


def test_a_closed_stderr_does_not_stop_the_batch(tmp_path, pointwise_onnx):
    inputs = [write_photo(tmp_path / f"{i}.png", seed=i) for i in range(2)]
    result = subprocess.run(["sh", "-c", 'exec "$@" 2>&-', "sh", *COMMAND, *map(str, inputs), "-o",
                             str(tmp_path / "out") + "/", "--model", str(pointwise_onnx)], env=ENVIRONMENT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == ""
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0_color.png", "1_color.png"]


def test_an_interrupt_that_a_library_turns_into_an_import_error_still_exits_130(run, tmp_path, monkeypatch):
    """numpy and onnxruntime make an ImportError of Ctrl-C during their import (colorize-run then said
    "onnxruntime is not installed", exit 2): the run is interrupted all the same."""
    class InterruptedImport(types.ModuleType):
        def __getattr__(self, name):
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(10)  # the signal's handler raises here
            except KeyboardInterrupt:
                raise ColorizeError("onnxruntime is not installed") from None
    monkeypatch.setitem(sys.modules, "colorize_runtime.colorizer", InterruptedImport("colorize_runtime.colorizer"))
    photo = write_photo(tmp_path / "a.png")
    code, out, err = run(photo)
    assert code == 130 and out == "" and err == "colorize-run: interrupted\n"
    assert tree(tmp_path) == {"a.png": photo.read_bytes()}


# 3. Empty guidance is refused

@pytest.mark.parametrize("option,message", [
    ("--reference", "--reference is empty; expected a colour photo"),
    ("--hints", "--hints is empty; expected a JSON file"),
    ("--suggest", "--suggest is empty; expected X,Y"),
    ("-o", "-o is empty; expected a file or folder"),
    ("--report", "--report is empty; expected a file name, or -"),
])
def test_an_empty_option_value_is_a_usage_error_not_an_option_left_out(run, tmp_path, option, message):
    photo = write_photo(tmp_path / "a.png")
    code, out, err = run(photo, option, "")
    assert code == 2 and out == "" and err == f"colorize-run: {message}\n"
    assert tree(tmp_path) == {"a.png": photo.read_bytes()}


# 5. The model's external data check cannot be skipped

def external_model(path, location: str, tail: bytes = b"") -> bytes:
    """The stand-in model with its gains read from external data at location, and tail appended to the file."""
    import onnx

    model = onnx.load(pointwise_model(path))
    gains = model.graph.initializer[0]
    gains.ClearField("float_data")
    gains.data_location = onnx.TensorProto.EXTERNAL
    gains.external_data.add(key="location", value=location)
    path.write_bytes(model.SerializeToString() + tail)
    return path


@pytest.mark.parametrize("location,tail,reason", [
    ("/etc/passwd", bytes([0x83, 0x02, 0x84, 0x02]), "not a usable ONNX model (its external data cannot be "
                                                     "checked: wire type 3 in field 32)"),
    ("/etc/passwd", bytes([0x88, 0x02, 0x01]), "not a usable ONNX model (its external data cannot be checked: "
                                               "field 33 of ModelProto, which onnx.proto does not define)"),
    ("gains\0.bin", b"", "its external data 'gains\\x00.bin' lies outside the model's folder; refusing to read it"),
])
def test_a_crafted_model_cannot_skip_the_external_data_check(run, tmp_path, location, tail, reason):
    """A group field (valid protobuf, which onnxruntime reads past) and an unknown field made the old walker
    stop early and pass the file on: onnxruntime 1.23.2 then read /etc/passwd as the weights."""
    model = external_model(tmp_path / "crafted.onnx", location, tail)
    photo = write_photo(tmp_path / "a.png")
    before = tree(tmp_path)
    code, out, err = run(photo, model=model)
    assert code == 2 and out == "" and err == f"colorize-run: {model}: {reason}\n"
    assert tree(tmp_path) == before


# 6. Colours out of range

@pytest.mark.parametrize("colour", ["rgb(300,0,0)", "hsl(400,200%,50%)"])
def test_a_colour_outside_the_srgb_range_is_one_line_exit_2_and_a_colorize_error(run, tmp_path, colour):
    photo = gray_photo(tmp_path / "a.png")
    code, out, err = run(photo, "--hint", f"10,10,{colour}", model=None)
    assert code == 2 and out == ""
    assert err == f"colorize-run: colour {colour!r} is outside the sRGB range (red, green, blue 0-255, " \
                  "percentages 0-100%)\n"
    assert tree(tmp_path) == {"a.png": photo.read_bytes()}
    with pytest.raises(ColorizeError, match="outside the sRGB range"):
        guided.Hint.make(10, 10, colour)


# 7. Bounded reads: FIFOs, devices, deep JSON

def limited_run(*argv, timeout: float = 30) -> subprocess.CompletedProcess:
    """colorize-run in a process of at most 4 GB, that must end within timeout seconds."""
    import resource

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2 ** 30, 4 * 2 ** 30))
    return subprocess.run([*COMMAND, *map(str, argv)], env=ENVIRONMENT, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit_memory)


@pytest.mark.parametrize("option,source,code,message", [
    ("", "fifo", 1, "{path}: is a FIFO, not a regular file; refusing to read it"),
    ("--hints", "fifo", 2, "{path}: cannot read the hints file (is a FIFO, not a regular file; refusing to read it)"),
    ("--reference", "fifo", 2, "{path}: the reference is not a readable colour photo (is a FIFO, not a regular "
                               "file; refusing to read it)"),
    ("--hints", "/dev/zero", 2, "{path}: cannot read the hints file (is a device, not a regular file; refusing "
                                "to read it)"),
    ("--reference", "/dev/zero", 2, "{path}: the reference is not a readable colour photo (is a device, not a "
                                    "regular file; refusing to read it)"),
    ("--hints", "deep", 2, "{path}: the hints file is not a list of hints (its JSON is nested too deeply)"),
])
def test_a_fifo_a_device_or_deeply_nested_json_is_refused_at_once(tmp_path, pointwise_onnx, option, source, code,
                                                                   message):
    photo = gray_photo(tmp_path / "a.png")
    path = tmp_path / "source" if source in ("fifo", "deep") else source
    if source == "fifo":
        os.mkfifo(path)
    elif source == "deep":
        path.write_text("[" * 100_000 + "]" * 100_000)
    inputs = [path] if not option else [photo, option, path]
    result = limited_run(*inputs, "--model", pointwise_onnx if not option else "guided")
    assert result.returncode == code
    assert result.stderr.splitlines()[0] == "colorize-run: " + message.format(path=path)
    assert files.read_image(photo).shape == (40, 60) and not (tmp_path / "a_color.png").exists()


# 8. A tampered guided model is refused at load

CELLS_NEEDED = "a guided model needs a hint contract with its ab cells (metadata \"hints\": {\"ab_cells\": [[a, b], " \
               "...]}, one per global hint entry"


@pytest.mark.parametrize("tampering,reason", [
    ({"hints": {"ab_cells": [[0.0, 0.0]] * 243}}, CELLS_NEEDED + ": distinct cells on a regular grid, step 1 or more; "
                                                  "these are not)"),
    ({"hints": {"ab_cells": [[math.nan, 0.0]] * 243}}, CELLS_NEEDED + ": CIELAB a, b within 128 of 0; these are "
                                                      "not)"),
    ({"hints": {"ab_cells": [[a * 1e6, b] for a, b in GRID_CELLS]}}, CELLS_NEEDED + ": CIELAB a, b within 128 of 0; "
                                                                   "these are not)"),
    ({"hints": {"ab_cells": [[a / 1e3, b / 1e3] for a, b in GRID_CELLS]}},
     CELLS_NEEDED + ": distinct cells on a regular grid, step 1 or more; these are not)"),
    ({"contract": {**colour.contract_metadata(), "ab_scale": 1e-30}},
     "its colour_contract's ab_scale must be a number from 1 to 1000, not 1e-30"),
])
def test_a_tampered_hint_contract_is_refused_when_the_model_loads(run, tmp_path, tampering, reason):
    model = guided_like(tmp_path / "guided.onnx", hints=tampering.get("hints"))
    if "contract" in tampering:
        import onnx

        tampered = onnx.load(model)
        next(p for p in tampered.metadata_props if p.key == "colour_contract").value = json.dumps(
            tampering["contract"])
        onnx.save(tampered, model)
    photo = gray_photo(tmp_path / "a.png")
    before = tree(tmp_path)
    for guidance in (["--suggest", "10,10"], ["--hint", "10,10,red"], ["--reference", colour_photo(tmp_path / "r.png")]):
        code, out, err = run(photo, *guidance, model=model)
        assert code == 2 and out == "" and err == f"colorize-run: {model}: {reason}\n"
    assert tree(tmp_path) == {**before, "r.png": (tmp_path / "r.png").read_bytes()}
    with pytest.raises(ColorizeError, match=re.escape(reason)):
        Colorizer(model)


def test_a_guided_model_whose_distribution_is_not_one_is_refused(tmp_path):
    import onnx

    model = onnx.load(guided_like(tmp_path / "guided.onnx"))
    softmax = next(node for node in model.graph.node if node.op_type == "Softmax")
    softmax.op_type = "Neg"  # probabilities below 0
    del softmax.attribute[:]
    onnx.save(model, tmp_path / "guided.onnx")
    with pytest.raises(ColorizeError, match="a test window through the hint path gave a distribution that is not "
                                            "one"):
        Colorizer(tmp_path / "guided.onnx")


# 9. --suggest's output

@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_suggestions_to_a_full_disk_or_a_closed_pipe_are_one_line_or_quiet(tmp_path):
    photo = gray_photo(tmp_path / "a.png")
    command = [*COMMAND, str(photo), "--suggest", "10,10", "--threads", "1"]
    with open("/dev/full", "w") as full:
        result = subprocess.run(command, env=ENVIRONMENT, stdout=full, stderr=subprocess.PIPE, text=True,
                                timeout=120)
    assert result.returncode == 1
    assert result.stderr == "colorize-run: stdout: No space left on device; the suggestions were not written\n"
    process = subprocess.Popen(command, env=ENVIRONMENT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # `| head -c 0`: the reader is gone before the first line
    assert process.communicate(timeout=120)[1] == "" and process.returncode == 0
    assert tree(tmp_path) == {"a.png": photo.read_bytes()}


# 10. A name too long

def test_an_output_name_too_long_is_one_line_and_the_other_files_are_done(run, tmp_path):
    photo, other = write_photo(tmp_path / "a.png"), write_photo(tmp_path / "b.png", seed=1)
    too_long = tmp_path / ("x" * 300 + ".png")
    code, out, err = run(photo, "-o", too_long)
    assert code == 1 and out == ""
    assert err.splitlines() == [f"colorize-run: {photo}: cannot write {too_long}: File name too long",
                                "colorize-run: 1 of 1 files failed (0 colourised, 0 skipped)"]
    folder = tmp_path / ("y" * 300)
    code, out, err = run(photo, other, "-o", folder)
    assert code == 1 and err.splitlines()[-1] == "colorize-run: 2 of 2 files failed (0 colourised, 0 skipped)"
    assert err.splitlines()[0] == f"colorize-run: {photo}: cannot write {folder / 'a_color.png'}: File name too long"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]


# 12. (and issue 34, 5) The API takes what colorize takes, and says what it refuses

@pytest.fixture(scope="module")
def guided_colorizer():
    return Colorizer("guided", providers="cpu", threads=1)


def test_suggest_and_reference_take_what_colorize_takes(guided_colorizer, tmp_path):
    from PIL import Image

    bgr = photo_like(48, 64)
    path = tmp_path / "p.png"
    path.write_bytes(files.encode_image(bgr, ".png"))
    expected = guided_colorizer.suggest(bgr, 20, 10)
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    for image, rgb_flag in ((path, False), (str(path), False), (path.read_bytes(), False),
                            (Image.fromarray(rgb), False), (rgb, True)):
        assert guided_colorizer.suggest(image, 20, 10, rgb=rgb_flag) == expected
    reference = guided_colorizer.reference(bgr).distribution
    for photo, rgb_flag in ((path, False), (path.read_bytes(), False), (Image.fromarray(rgb), False), (rgb, True)):
        np.testing.assert_allclose(guided_colorizer.reference(photo, rgb=rgb_flag).distribution, reference)


@pytest.mark.parametrize("call,message", [
    (lambda c: c.suggest(None, 1, 1), "cannot colourise a builtins.NoneType"),
    (lambda c: c.suggest(np.zeros((8, 8), np.float32), 1, 1), "expected a gray (H, W), BGR (H, W, 3) or BGRA"),
    (lambda c: c.suggest(np.zeros((8, 8, 2), np.uint8), 1, 1), "got uint8 (8, 8, 2)"),
    (lambda c: c.suggest(np.zeros((8, 8), np.uint8), "10", 1), "the point '10', 1 is not a pair of numbers"),
    (lambda c: c.suggest(np.zeros((8, 8), np.uint8), None, 1), "the point None, 1 is not a pair of numbers"),
    (lambda c: c.suggest(np.zeros((8, 8), np.uint8), 1, 1, count=0), "count must be a whole number, 1 or more"),
    (lambda c: c.reference(np.zeros((8, 8, 2), np.uint8)), "reference: expected a gray"),
    (lambda c: c.reference(np.zeros((0, 8, 3), np.uint8)), "reference: expected a gray"),
    (lambda c: c.reference(5), "reference must be a photo"),
    (lambda c: c.reference("no\0such.png"), "not a file name"),
    (lambda c: c.colorize("no\0such.png"), "cannot read 'no\\x00such.png': not a file name"),
])
def test_the_guided_api_raises_colorize_error_for_what_it_cannot_take(guided_colorizer, call, message):
    with pytest.raises(ColorizeError, match=re.escape(message)):
        call(guided_colorizer)


def test_colorize_frames_takes_what_colorize_takes_and_refuses_the_rest(pointwise_onnx, tmp_path):
    from PIL import Image

    colorizer = Colorizer(pointwise_onnx, providers="cpu")
    gray = photo_like(32, 40, 1)
    path = tmp_path / "frame.png"
    path.write_bytes(files.encode_image(gray, ".png"))
    expected = list(colorizer.colorize_frames([gray, gray], temporal_smoothing=0))
    as_pil, as_path = colorizer.colorize_frames([Image.fromarray(gray), path], temporal_smoothing=0)
    np.testing.assert_array_equal(np.asarray(as_pil), expected[0][..., ::-1])
    np.testing.assert_array_equal(as_path, expected[1])
    with pytest.raises(ColorizeError, match="frames must be an iterable of frames, not int"):
        colorizer.colorize_frames(5)
    with pytest.raises(ColorizeError, match="cannot colourise a builtins.NoneType"):
        list(colorizer.colorize_frames([None]))
    closed = Image.fromarray(gray)
    closed.close()
    with pytest.raises(ColorizeError, match="cannot read the PIL image"):
        colorizer.colorize(closed)


@pytest.mark.parametrize("keywords,message", [
    ({"source": None}, "source must be a file path (str or os.PathLike), not NoneType"),
    ({"target": None}, "target must be a file path (str or os.PathLike), not NoneType"),
    ({"quality": 0}, "quality must be a whole number, between 1 and 100, not 0"),
    ({"quality": -5}, "quality must be a whole number, between 1 and 100, not -5"),
    ({"quality": 1000}, "quality must be a whole number, between 1 and 100, not 1000"),
    ({"max_pixels": 0}, "max_pixels must be a whole number, 1 or more, not 0"),
])
def test_colorize_file_and_video_refuse_bad_arguments_before_touching_a_file(pointwise_onnx, tmp_path, keywords,
                                                                           message):
    colorizer = Colorizer(pointwise_onnx, providers="cpu")
    photo = write_photo(tmp_path / "a.png")
    before = tree(tmp_path)
    with pytest.raises(ColorizeError, match=re.escape(message)):
        colorizer.colorize_file(**{"source": photo, "target": tmp_path / "out.jpg", **keywords})
    if "quality" not in keywords:
        with pytest.raises(ColorizeError, match=re.escape(message)):
            colorizer.colorize_video(**{"source": photo, "target": tmp_path / "out.mp4", **keywords})
    assert tree(tmp_path) == before


# 13. and 14. Messages

def test_a_negative_hint_point_gets_our_message_not_argparses(run, tmp_path):
    photo = gray_photo(tmp_path / "a.png")
    for option, value in (("--hint", "-1,10,red"), ("--suggest", "-1,10")):
        code, out, err = run(photo, option, value, model=None)
        assert code == 2 and out == ""
        assert err == f"colorize-run: {photo}: hint at -1,10 is outside the 60x40 photo\n"
    assert tree(tmp_path) == {"a.png": photo.read_bytes()}


@pytest.mark.parametrize("position", [["10", 10], [10, True], [None, 10]])
def test_hint_coordinates_in_a_hints_file_must_be_numbers(run, tmp_path, position):
    photo = gray_photo(tmp_path / "a.png")
    hints = tmp_path / "hints.json"
    hints.write_text(json.dumps([{"x": position[0], "y": position[1], "color": "red"}]))
    code, out, err = run(photo, "--hints", hints, model=None)
    assert code == 2 and out == ""
    assert err == f"colorize-run: {hints}: hint position {position[0]!r}, {position[1]!r} is not a pair of numbers\n"


def test_an_interrupted_video_is_called_a_video(run, tmp_path, monkeypatch):
    from colorize_runtime import video

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(video, "colorize_video", interrupted)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"a film")
    code, out, err = run(clip)
    assert code == 130 and err == "colorize-run: interrupted: 0 written; the video in progress was not\n"


def test_an_output_without_an_extension_is_said_plainly(run, tmp_path):
    photo = write_photo(tmp_path / "a.png")
    code, _, err = run(photo, "-o", tmp_path / "out")
    assert code == 1 and err.splitlines()[0] == f"colorize-run: {photo}: cannot write a file without an extension " \
                                                "(use .jpg, .png, .tif, .webp or .bmp)"


def five_channel_tiff(width: int = 6, height: int = 4, samples: int = 5) -> bytes:
    """A valid uncompressed 16-bit TIFF of 5 samples a pixel (RGB and two extra samples), written by hand:
    neither Pillow nor OpenCV reads that layout."""
    import struct

    pixels = (np.arange(width * height * samples, dtype=np.uint16) * 500).tobytes()
    bits = struct.pack(f"<{samples}H", *[16] * samples)
    extra = struct.pack(f"<{samples - 3}H", *[0] * (samples - 3))
    bits_at, extra_at, pixels_at = 8, 8 + len(bits), 8 + len(bits) + len(extra)
    tags = [(256, 3, 1, width), (257, 3, 1, height), (258, 3, samples, bits_at), (259, 3, 1, 1), (262, 3, 1, 2),
            (273, 4, 1, pixels_at), (277, 3, 1, samples), (278, 3, 1, height), (279, 4, 1, len(pixels)),
            (284, 3, 1, 1), (338, 3, samples - 3, extra_at)]
    directory = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *tag) for tag in tags) + bytes(4)
    return b"II*\0" + struct.pack("<I", pixels_at + len(pixels)) + bits + extra + pixels + directory


def test_a_valid_tiff_of_an_unsupported_layout_is_not_called_damaged(run, tmp_path):
    tiff = tmp_path / "five.tif"
    tiff.write_bytes(five_channel_tiff())
    code, _, err = run(tiff)
    assert code == 1
    assert err.splitlines()[0] == f"colorize-run: {tiff}: a TIFF file whose pixel layout is not supported (gray, " \
                                  "RGB, RGBA or CMYK, 8 or 16 bits, are; this one has other channels or bits)"


def test_force_never_replaces_a_link_to_standard_output(tmp_path, pointwise_onnx):
    photo = write_photo(tmp_path / "a.png")
    link = tmp_path / "a_color.png"
    link.symlink_to("/proc/self/fd/1")
    with open(tmp_path / "stdout.txt", "w") as stdout:  # stdout a regular file: the link leads to a file
        result = subprocess.run([*COMMAND, str(photo), "--force", "--model", str(pointwise_onnx)], env=ENVIRONMENT,
                                stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"colorize-run: {photo}: output {link} is a link to /proc/self/fd/1, " \
                                            "not a file; refusing to replace it, even with --force"
    assert os.readlink(link) == "/proc/self/fd/1" and (tmp_path / "stdout.txt").read_text() == ""


def test_a_fragmented_mp4_cut_short_is_refused_and_a_whole_one_is_not(tmp_path, pointwise_onnx, capsys):
    """A fragmented MP4 announces no frame count, and its durations come from the fragments that are there: the
    cut shows only as a packet the demuxer reads short."""
    pytest.importorskip("av")
    from colorize_runtime.cli import main
    from tests.test_damaged_videos import cut
    from tests.test_video import moving_shapes, write_clip

    fragmented = {"movflags": "frag_keyframe+empty_moov"}
    whole = write_clip(tmp_path / "whole.mp4", moving_shapes(30, 48, 64), options=fragmented)
    damaged = cut(write_clip(tmp_path / "film.mp4", moving_shapes(30, 48, 64), options=fragmented))
    code = main([str(whole), str(damaged), "--model", str(pointwise_onnx)])
    err = capsys.readouterr().err.splitlines()
    assert code == 1 and len(err) == 2
    assert re.fullmatch(rf"colorize-run: {re.escape(str(damaged))}: truncated or damaged video: its audio packet at "
                        r"[0-9.]+ s is cut short or corrupt", err[0]), err
    assert (tmp_path / "whole_color.mp4").exists() and not (tmp_path / "cut-film_color.mp4").exists()
