"""colorize-run as users run it: many inputs, outputs, formats, safety rules, bad input, options, exit codes."""
from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from colorize_runtime import __version__, colorizer as colorizer_module, files
from colorize_runtime.cli import main
from tests.conftest import REPOSITORY, photo_like, pointwise_model

MESSAGE = re.compile(r"^colorize-run: (.+): (.+)$")


@pytest.fixture
def run(pointwise_onnx, capsys):
    """main() with the fast stand-in model: (exit code, stdout, stderr)."""
    def run_main(*argv: str | Path, model: Path | None = pointwise_onnx):
        args = [str(a) for a in argv] + (["--model", str(model)] if model else [])
        code = main(args)
        out, err = capsys.readouterr()
        return code, out, err
    return run_main


def write_photo(path: Path, height: int = 32, width: int = 48, channels: int = 3, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(files.encode_image(photo_like(height, width, channels, seed), path.suffix))
    return path


def run_subprocess(*argv, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{REPOSITORY / 'runtime'}{os.pathsep}{REPOSITORY}"}
    return subprocess.run([sys.executable, "-m", "colorize_runtime", *map(str, argv)], env=env,
                          capture_output=True, **kwargs)


# Inputs and outputs

def test_default_output_is_beside_the_input_with_the_same_size(run, tmp_path):
    photo = write_photo(tmp_path / "photo.jpg")
    code, out, err = run(photo)
    assert code == 0 and err == ""
    assert files.read_image(tmp_path / "photo_color.jpg").shape == (32, 48, 3)
    assert f"{photo} -> {tmp_path / 'photo_color.jpg'}" in out


def test_files_folders_and_globs_in_one_run(run, tmp_path):
    for name in ("a.jpg", "b.png", "album/c.jpg", "album/2020/d.tif", "album/.hidden/e.jpg", "album/notes.txt"):
        write_photo(tmp_path / name) if not name.endswith(".txt") else (tmp_path / name).write_text("hi")
    code, _, err = run(tmp_path / "*.jpg", tmp_path / "b.png", tmp_path / "album", "-r")
    assert code == 0, err
    for output in ("a_color.jpg", "b_color.png", "album/c_color.jpg", "album/2020/d_color.tif"):
        assert (tmp_path / output).is_file()
    assert not (tmp_path / "album/.hidden/e_color.jpg").exists()


def test_a_folder_needs_r(run, tmp_path):
    write_photo(tmp_path / "album/a.jpg")
    code, _, err = run(tmp_path / "album")
    assert code == 1
    assert f"colorize-run: {tmp_path / 'album'}: is a folder; add -r" in err
    assert not (tmp_path / "album/a_color.jpg").exists()


def test_running_twice_over_a_folder_does_not_colourise_the_outputs(run, tmp_path):
    write_photo(tmp_path / "album/a.jpg")
    assert run(tmp_path / "album", "-r")[0] == 0
    code, _, err = run(tmp_path / "album", "-r", "--force")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "album").iterdir()) == ["a.jpg", "a_color.jpg"]


def test_output_file_for_one_input(run, tmp_path):
    photo = write_photo(tmp_path / "photo.jpg")
    code, _, _ = run(photo, "-o", tmp_path / "result.png")
    assert code == 0
    assert files.read_image(tmp_path / "result.png").shape == (32, 48, 3)


def test_output_folder_for_many_inputs_is_created_and_mirrors_subfolders(run, tmp_path):
    write_photo(tmp_path / "a.jpg")
    write_photo(tmp_path / "album/x.jpg")
    write_photo(tmp_path / "album/2020/x.jpg")
    code, _, err = run(tmp_path / "a.jpg", tmp_path / "album", "-r", "-o", tmp_path / "out/new")
    assert code == 0, err
    out = tmp_path / "out/new"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.jpg")) == \
        ["2020/x_color.jpg", "a_color.jpg", "x_color.jpg"]


def test_two_inputs_with_the_same_output_name_do_not_overwrite_each_other(run, tmp_path):
    first, second = write_photo(tmp_path / "one/x.jpg"), write_photo(tmp_path / "two/x.jpg", seed=1)
    code, _, err = run(first, second, "-o", tmp_path / "out")
    assert code == 1
    assert f"{second}: output {tmp_path / 'out/x_color.jpg'} is also the output of {first}" in err


@pytest.mark.parametrize("options,name,image_format", [
    (["--suffix=-colour"], "photo-colour.tif", "TIFF"),
    (["--format", "png"], "photo_color.png", "PNG"),
    (["--format", "webp", "--suffix", ""], "photo.webp", "WEBP"),
    (["--format", "jpg"], "photo_color.jpg", "JPEG"),
])
def test_suffix_and_format(run, tmp_path, options, name, image_format):
    photo = write_photo(tmp_path / "photo.tif")
    code, _, err = run(photo, *options)
    assert code == 0, err
    assert files._header((tmp_path / name).read_bytes()).format == image_format


def test_quality_sets_the_jpeg_quality(run, tmp_path):
    photo = write_photo(tmp_path / "photo.png", 128, 128)
    run(photo, "--quality", "20", "--suffix", "_low", "--format", "jpg")
    run(photo, "--quality", "98", "--suffix", "_high", "--format", "jpg")
    assert (tmp_path / "photo_low.jpg").stat().st_size < (tmp_path / "photo_high.jpg").stat().st_size / 2


def test_stdin_to_stdout_png(pointwise_onnx, tmp_path):
    jpeg = files.encode_image(photo_like(40, 60), ".jpg")
    result = run_subprocess("-", "--model", pointwise_onnx, input=jpeg)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"\x89PNG")
    assert files.decode_image(result.stdout).shape == (40, 60, 3)
    bad = run_subprocess("-", "--model", pointwise_onnx, input=b"not a photo")
    assert bad.returncode == 1 and bad.stdout == b""
    assert bad.stderr.decode().startswith("colorize-run: stdin: not an image")


def test_sixteen_bit_and_alpha_are_kept_and_jpeg_output_drops_alpha_with_a_note(run, tmp_path):
    bgra = np.dstack([photo_like(32, 48).astype(np.uint16) * 257, np.full((32, 48), 12345, np.uint16)])
    (tmp_path / "scan.png").write_bytes(files.encode_image(bgra, ".png"))
    assert run(tmp_path / "scan.png")[0] == 0
    result = files.read_image(tmp_path / "scan_color.png")
    assert result.dtype == np.uint16 and result.shape == (32, 48, 4) and (result[..., 3] == 12345).all()
    code, _, err = run(tmp_path / "scan.png", "--format", "jpg")
    assert code == 0 and "JPEG has no alpha channel; the transparency was dropped" in err
    assert files.read_image(tmp_path / "scan_color.jpg").shape == (32, 48, 3)


def test_exif_orientation_gives_an_upright_output(run, tmp_path):
    from tests.test_files import jpeg_with_orientation

    (tmp_path / "turned.jpg").write_bytes(jpeg_with_orientation(photo_like(30, 50), 6))
    assert run(tmp_path / "turned.jpg")[0] == 0
    assert files.read_image(tmp_path / "turned_color.jpg").shape == (50, 30, 3)


# Never lose or clobber a file

def test_an_existing_output_is_skipped_unless_forced(run, tmp_path):
    photo = write_photo(tmp_path / "photo.jpg")
    (tmp_path / "photo_color.jpg").write_bytes(b"made earlier")
    code, _, err = run(photo)
    assert code == 0
    assert f"colorize-run: {photo}: skipped, {tmp_path / 'photo_color.jpg'} exists (use --force" in err
    assert (tmp_path / "photo_color.jpg").read_bytes() == b"made earlier"
    assert run(photo, "--force")[0] == 0
    assert files.read_image(tmp_path / "photo_color.jpg").shape == (32, 48, 3)


@pytest.mark.parametrize("options", [["-o", "{photo}"], ["--suffix", ""], ["-o", "{folder}", "--suffix", ""]])
def test_the_input_is_never_overwritten_whatever_o_says(run, tmp_path, options):
    photo = write_photo(tmp_path / "photo.jpg")
    original = photo.read_bytes()
    options = [o.format(photo=photo, folder=tmp_path) for o in options]
    code, _, err = run(photo, *options, "--force")
    assert code == 1
    assert "is the input itself; refusing to overwrite it" in err
    assert photo.read_bytes() == original


def test_an_output_that_is_another_input_is_not_overwritten(run, tmp_path):
    first, second = write_photo(tmp_path / "a.jpg"), write_photo(tmp_path / "a_color.jpg", seed=1)
    original = second.read_bytes()
    code, _, err = run(first, second, "--force")
    assert code == 1
    assert f"{first}: output {second} is another input; refusing to overwrite it" in err
    assert second.read_bytes() == original and (tmp_path / "a_color_color.jpg").exists()


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.rglob(".*") if p.is_file()]


def test_ctrl_c_during_a_write_exits_130_and_leaves_no_partial_file(run, tmp_path, monkeypatch):
    photos = [write_photo(tmp_path / f"{i}.png", seed=i) for i in range(3)]
    fsync = os.fsync
    calls = []

    def interrupted_second_time(descriptor):
        calls.append(descriptor)
        if len(calls) == 2:
            raise KeyboardInterrupt
        fsync(descriptor)
    monkeypatch.setattr(files.os, "fsync", interrupted_second_time)
    code, _, err = run(*photos)
    assert code == 130
    assert "interrupted: 1 written" in err
    assert (tmp_path / "0_color.png").exists() and not (tmp_path / "1_color.png").exists()
    assert no_temporary_files(tmp_path)


def test_a_real_sigint_stops_cleanly(pointwise_onnx, tmp_path):
    for i in range(40):
        write_photo(tmp_path / f"{i:02}.png", 400, 400, seed=i)
    env = {**os.environ, "PYTHONPATH": f"{REPOSITORY / 'runtime'}{os.pathsep}{REPOSITORY}"}
    # a shell's background jobs (nohup, `&`) start with SIGINT ignored, which a child would inherit (and Python
    # then installs no Ctrl-C handler); a handled signal is reset to the default in the child
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen([sys.executable, "-m", "colorize_runtime", str(tmp_path), "-r", "--model",
                                    str(pointwise_onnx)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    finally:
        signal.signal(signal.SIGINT, ignored)
    deadline = time.monotonic() + 60
    while not (tmp_path / "00_color.png").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert no_temporary_files(tmp_path)
    outputs = sorted(tmp_path.glob("*_color.png"))
    assert 1 <= len(outputs) < 40
    assert all(files.read_image(p).shape == (400, 400, 3) for p in outputs)


# Bad input gets a clear error, and the batch goes on

def bad_corpus(folder: Path) -> dict[Path, str]:
    """Every kind of bad input, each with the reason colorize-run must give for it."""
    from tests.test_files import BAD_FILES

    corpus = {}
    for name, (content, reason) in BAD_FILES.items():
        (folder / name).write_bytes(content)
        corpus[folder / name] = reason
    write_photo(folder / "large.png", 80, 80)
    corpus[folder / "large.png"] = "80x80 = 6,400 pixels, over the max-pixels limit of 5,000"
    corpus[folder / "missing.jpg"] = "no such file"
    (folder / "album").mkdir()
    corpus[folder / "album"] = "is a folder; add -r"
    corpus[folder / "nothing-*.jpg"] = "no file matches"
    return corpus


def test_a_batch_with_bad_files_colourises_every_good_one_and_exits_1(run, tmp_path):
    bad = bad_corpus(tmp_path)
    good = [write_photo(tmp_path / f"good{i}.jpg", seed=i) for i in range(9 * len(bad))]  # 10% bad
    inputs = [p for pair in zip(good[::9], bad) for p in pair] + good  # bad ones spread through the batch
    code, _, err = run(*dict.fromkeys(inputs), "--max-pixels", "5000")
    assert code == 1
    for photo in good:
        assert files.read_image(photo.with_name(f"{photo.stem}_color.jpg")).shape == (32, 48, 3)
    lines = err.splitlines()
    assert lines[-1] == f"colorize-run: {len(bad)} of {len(bad) + len(good)} files failed " \
                        f"({len(good)} colourised, 0 skipped)"
    messages = {match[1]: match[2] for match in map(MESSAGE.match, lines[:-1])}
    assert len(messages) == len(lines) - 1 == len(bad)  # one line each, in the colorize-run: PATH: REASON form
    for path, reason in bad.items():
        assert re.search(reason, messages[str(path)]), (path, messages[str(path)])


def test_unreadable_files_are_reported_and_the_batch_goes_on(run, tmp_path, monkeypatch):
    locked, good = write_photo(tmp_path / "locked.jpg"), write_photo(tmp_path / "good.jpg")
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # root reads anything: make the read fail as it would for a user
        real_open = os.open

        def denied(path, *args, **kwargs):
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)
        monkeypatch.setattr(os, "open", denied)
    code, _, err = run(locked, good)
    assert code == 1 and f"colorize-run: {locked}: permission denied" in err
    assert (tmp_path / "good_color.jpg").exists()


@pytest.mark.parametrize("kind", ["missing", "not onnx", "wrong input shape", "no colour contract"])
def test_a_bad_model_is_reported_once_before_any_photo_is_touched(run, tmp_path, kind):
    model = tmp_path / "model.onnx"
    if kind == "not onnx":
        model.write_bytes(b"not a model")
    elif kind == "wrong input shape":
        pointwise_model(model, window=128)
    elif kind == "no colour contract":
        pointwise_model(model, metadata=False)
    photos = [write_photo(tmp_path / f"{i}.jpg") for i in range(3)]
    code, out, err = run(*photos, model=model)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(f"colorize-run: {model}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.jpg", "1.jpg", "2.jpg", "model.onnx"][:3 + model.exists()]


@pytest.mark.parametrize("options,message", [
    (["--format", "gif"], "invalid choice"),
    (["--quality", "0"], "must be between 1 and 100|must be 1 or more"),
    (["--threads", "0"], "must be 1 or more"),
    (["--size", "big"], "expected a whole number"),
    (["--saturation", "-1"], "must be 0 or more"),
    (["--max-pixels", "x"], "expected a whole number"),
    (["-q", "-v"], "not allowed with"),
    (["{photo}", "-"], "cannot be mixed"),
    (["{photo}", "{photo2}", "-o", "{photo2}"], r"a file, but \d inputs need a folder"),
    (["-o", "out.png", "--format", "jpg"], "disagree"),
])
def test_usage_errors_exit_2(run, tmp_path, options, message):
    photo, photo2 = write_photo(tmp_path / "a.jpg"), write_photo(tmp_path / "b.jpg")
    options = [o.format(photo=photo, photo2=photo2) for o in options]
    code, _, err = run(photo, *options)
    assert code == 2
    assert re.search(message, err), err
    assert not list(tmp_path.glob("*_color*"))


def test_bad_option_values_that_the_colorizer_refuses_exit_2(run, tmp_path):
    photo = write_photo(tmp_path / "a.jpg")
    code, _, err = run(photo, "--stride", "999")
    assert code == 2 and "stride must be between 1 and 256" in err


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA is available here")
def test_cuda_without_cuda_exits_2(run, tmp_path):
    code, _, err = run(write_photo(tmp_path / "a.jpg"), "--providers", "cuda")
    assert code == 2 and "CUDA was requested" in err


# Options users expect

class RecordingColorizer(colorizer_module.Colorizer):
    created: list[tuple[str, dict]] = []

    def __init__(self, model=None, **options):
        RecordingColorizer.created.append((model, options))
        super().__init__(model, **{k: v for k, v in options.items() if k != "precision"})


def test_model_options_reach_the_colorizer_and_omitted_ones_are_not_passed(run, tmp_path, monkeypatch,
                                                                          pointwise_onnx):
    monkeypatch.setattr(colorizer_module, "Colorizer", RecordingColorizer)
    RecordingColorizer.created = []
    photo = write_photo(tmp_path / "a.jpg")
    run(photo, "--force")
    run(photo, "--force", "--providers", "cpu", "--threads", "2", "--stride", "64", "--blend", "weighted",
        "--saturation", "0.5", "--size", "full", "--precision", "int8", "--no-mirror")
    run(photo, "--force", "--size", "512", "--mirror")
    assert RecordingColorizer.created == [
        (str(pointwise_onnx), {}),
        (str(pointwise_onnx), {"providers": "cpu", "threads": 2, "stride": 64, "blend": "weighted",
                               "saturation": 0.5, "size": None, "precision": "int8", "mirror": False}),
        (str(pointwise_onnx), {"size": 512, "mirror": True}),
    ]


def test_saturation_zero_gives_a_gray_photo(run, tmp_path):
    photo = write_photo(tmp_path / "a.png")
    assert run(photo, "--saturation", "0")[0] == 0
    result = files.read_image(tmp_path / "a_color.png").astype(int)
    assert np.abs(result - result[..., :1]).max() <= 1


def test_model_from_the_environment(run, tmp_path, monkeypatch, pointwise_onnx):
    photo = write_photo(tmp_path / "a.jpg")
    monkeypatch.setenv("COLORIZE_MODEL", str(tmp_path / "elsewhere.onnx"))
    code, _, err = run(photo, model=None)
    assert code == 2 and f"{tmp_path / 'elsewhere.onnx'}: model file not found" in err
    monkeypatch.setenv("COLORIZE_MODEL", str(pointwise_onnx))
    assert run(photo, model=None)[0] == 0


def test_the_session_is_created_once_per_run(run, tmp_path, monkeypatch):
    sessions = []
    real_session = ort.InferenceSession
    monkeypatch.setattr(colorizer_module.ort, "InferenceSession",
                        lambda *args, **kwargs: sessions.append(args) or real_session(*args, **kwargs))
    photos = [write_photo(tmp_path / f"{i}.jpg", seed=i) for i in range(4)]
    assert run(*photos)[0] == 0
    assert len(sessions) == 1


def test_quiet_prints_nothing_and_verbose_prints_the_model_and_timings(run, tmp_path, pointwise_onnx):
    photos = [write_photo(tmp_path / f"{i}.jpg", seed=i) for i in range(2)]
    assert run(*photos, "-q") == (0, "", "")
    code, out, err = run(*photos, "-v", "--force")
    assert code == 0
    assert f"model {pointwise_onnx}, providers CPUExecutionProvider" in err
    assert re.search(r"0\.jpg -> .*0_color\.jpg \(48x32, \d+\.\d s\)", out)


def run_on_a_terminal(*argv) -> str:
    """colorize-run with its stderr on a pseudo-terminal, as in an interactive shell: what it showed there."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # rows, columns
    env = {**os.environ, "PYTHONPATH": f"{REPOSITORY / 'runtime'}{os.pathsep}{REPOSITORY}"}
    process = subprocess.Popen([sys.executable, "-m", "colorize_runtime", *map(str, argv)], env=env,
                               stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the process closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    process.wait(timeout=60)
    os.close(controller)
    return shown.decode(errors="replace")


def test_a_progress_bar_on_the_terminal_for_more_than_one_file(pointwise_onnx, tmp_path):
    photos = [write_photo(tmp_path / f"{i}.jpg", seed=i) for i in range(3)]
    assert re.search(r"\| 0/3 \[.*photo/s", run_on_a_terminal(*photos, "--model", pointwise_onnx))
    assert "photo/s" not in run_on_a_terminal(photos[0], "--model", pointwise_onnx, "--force")


def test_version_and_help_are_quick_they_load_neither_onnxruntime_nor_opencv():
    for option in ("--version", "--help"):
        result = subprocess.run(
            [sys.executable, "-c", "import sys; from colorize_runtime.cli import main; code = main([sys.argv[1]]);"
             "print(code, 'onnxruntime' in sys.modules, 'cv2' in sys.modules)", option],
            capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONPATH": str(REPOSITORY / "runtime")})
        assert result.stdout.splitlines()[-1] == "0 False False"
    assert run_subprocess("--version", text=True).stdout == f"colorize-run {__version__}\n"


def test_help_shows_the_real_max_pixels_default(capsys):
    assert main(["--help"]) == 0
    assert f"{files.DEFAULT_MAX_PIXELS}" in capsys.readouterr().out


def test_model_picks_a_shipped_model_by_name_and_help_lists_the_names(run, tmp_path, capsys):
    from colorize_runtime.colorizer import SHIPPED_MODELS

    assert main(["--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(name in help_text for name in SHIPPED_MODELS)
    photo = write_photo(tmp_path / "p.png", 40, 60, channels=1)
    outputs = {}
    for name in SHIPPED_MODELS:
        target = tmp_path / f"{name}.png"
        assert run(photo, "-o", target, "--model", name, model=None)[0] == 0
        outputs[name] = files.read_image(target)
        assert outputs[name].shape == (40, 60, 3)
    assert not np.array_equal(outputs["vivid"], outputs["regression"])  # two different networks
    assert not np.array_equal(outputs["natural"], outputs["vivid"])  # one network, two decodings
    # the guided model without hints is the default one (float noise aside)
    assert np.abs(outputs["guided"].astype(int) - outputs["natural"]).max() <= 1
    code, _, err = run(photo, "-o", tmp_path / "x.png", "--model", "no-such-model", model=None)
    assert code == 2 and "no-such-model: model file not found" in err
