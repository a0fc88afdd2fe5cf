"""What a new user notices first (issue 30): --report - on stdout, --model's error naming the shipped models, a
--help that covers videos with examples and exit codes, one write-to-temporary-then-rename for every output (the
runtime's and the export's), and the video encoder tagged with PyAV's named colour constants."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from colorize_runtime import files
from colorize_runtime.cli import main
from colorize_runtime.colorizer import SHIPPED_MODELS
from tests.conftest import REPOSITORY, photo_like


@pytest.fixture
def run(pointwise_onnx, capsys):
    """main() with the fast stand-in model: (exit code, stdout, stderr)."""
    def run_main(*argv):
        code = main([str(a) for a in argv] + ["--model", str(pointwise_onnx)])
        out, err = capsys.readouterr()
        return code, out, err
    return run_main


def photos(folder: Path, count: int) -> list[Path]:
    paths = [folder / f"{index}.png" for index in range(count)]
    for index, path in enumerate(paths):
        path.write_bytes(files.encode_image(photo_like(24, 32, seed=index), ".png"))
    return paths


def test_report_dash_writes_the_json_lines_to_stdout_and_no_file(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = photos(tmp_path, 2)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a photo")
    code, out, err = run(*good, bad, "--report", "-")
    assert code == 1 and not (tmp_path / "-").exists()
    records = [json.loads(line) for line in out.splitlines()]  # stdout holds the report alone
    assert [(record["path"], record["status"]) for record in records] == \
        [(str(good[0]), "written"), (str(good[1]), "written"), (str(bad), "failed")]
    assert f"{good[0]} -> {tmp_path / '0_color.png'}" in err  # the usual lines moved to stderr


def test_report_to_a_file_keeps_stdout_for_the_usual_lines(run, tmp_path):
    (photo,) = photos(tmp_path, 1)
    code, out, err = run(photo, "--report", tmp_path / "report.jsonl")
    assert code == 0 and out.startswith(f"{photo} -> ")
    assert json.loads((tmp_path / "report.jsonl").read_text())["status"] == "written"


def test_an_unknown_model_name_lists_the_shipped_ones(tmp_path, capsys):
    (photo,) = photos(tmp_path, 1)
    assert main([str(photo), "--model", "colourful"]) == 2
    err = capsys.readouterr().err
    assert "colourful: model file not found" in err and all(name in err for name in SHIPPED_MODELS)
    assert main([str(photo), "--model", str(tmp_path / "missing.onnx")]) == 2
    assert "missing.onnx: model file not found\n" in capsys.readouterr().err  # a path: no list


def test_help_covers_videos_with_examples_and_exit_codes(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "photos and videos" in text and "photo or video files" in text
    assert "examples:" in text and "colorize-run film.mp4" in text and "--report -" in text
    assert "exit codes: 0" in text and all(f" {code} " in text.replace(";", " ") for code in (1, 2, 130, 143))


# One write-to-temporary-then-rename

def test_every_rename_onto_an_output_is_the_one_helper():
    """os.replace/os.rename appear in files.replacing only: the runtime and the export share its guarantees."""
    found = []
    for path in [*sorted((REPOSITORY / "runtime" / "colorize_runtime").glob("*.py")),
                 *sorted((REPOSITORY / "export").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("replace", "rename") \
                    and isinstance(node.value, ast.Name) and node.value.id == "os":
                found.append(path.relative_to(REPOSITORY).as_posix())
    assert found == ["runtime/colorize_runtime/files.py"]


def test_the_helper_renames_when_complete_and_removes_the_temporary_file_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"):
        with files.replacing(target) as temporary:
            temporary.write_bytes(b"half")
            raise OSError("disk full")
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]
    with files.replacing(target) as temporary:
        assert temporary.parent == tmp_path and temporary.name.startswith(".out.bin.")
        temporary.write_bytes(b"new")
    assert target.read_bytes() == b"new" and list(tmp_path.iterdir()) == [target]


def test_an_export_that_fails_while_saving_leaves_no_temporary_file(monkeypatch, tmp_path):
    pytest.importorskip("torch")
    onnx = pytest.importorskip("onnx")
    from export import allinone

    def save_half_then_fail(model, path, *args, **kwargs):
        Path(path).write_bytes(b"half a model")
        raise OSError("No space left on device")

    network = tmp_path / "network.onnx"
    from tests.conftest import pointwise_model
    pointwise_model(network)
    monkeypatch.setattr(allinone, "PARITY_SIZES", ((20, 30),))
    monkeypatch.setattr(allinone, "parity", lambda session, reference, photos: {})  # agreement is not the point
    monkeypatch.setattr(onnx, "save_model", save_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        allinone.write(network, REPOSITORY / "examples" / "sample.jpg", tmp_path / "out_rgb.onnx")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["network.onnx"]


# PyAV's named constants

def test_videos_are_tagged_bt601_tv_range_with_pyavs_names(run, tmp_path):
    av = pytest.importorskip("av")
    from av.video.reformatter import ColorRange, Colorspace

    from tests.test_video import moving_shapes, write_clip

    clip = write_clip(tmp_path / "film.mp4", moving_shapes(4, 32, 48), audio=False)
    assert run(clip)[0] == 0
    with av.open(str(tmp_path / "film_color.mp4")) as container:
        stream = container.streams.video[0]
        frame = next(container.decode(stream))
        assert (stream.codec_context.colorspace, stream.codec_context.color_range) == \
            (Colorspace.ITU601, ColorRange.MPEG)
        assert (frame.colorspace, frame.color_range) == (Colorspace.ITU601, ColorRange.MPEG)
    source = (REPOSITORY / "runtime" / "colorize_runtime" / "video.py").read_text()
    assert "Colorspace.ITU601" in source and "ColorRange.MPEG" in source
    assert not any(token in source for token in ("colorspace = 5", "color_range = 1", "dst_colorspace=5"))
