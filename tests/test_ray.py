"""colorize-run --ray on a two-node Ray cluster on this machine, and --report (with or without Ray).

The cluster is ray.cluster_utils.Cluster: two nodes of one CPU each, so each node gets one of the two workers.
The runs use the fast stand-in model (conftest.pointwise_model) and compare what --ray writes with what the
same command without --ray writes.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from colorize_runtime import files, leftovers
from colorize_runtime.cli import main
from tests.conftest import REPOSITORY, photo_like

PHOTOS, BAD = 100, 10
TIMEOUT = 600  # seconds for one run: about 20 s on an idle 2-core machine, minutes on a busy one
WORKER_TITLE = b"MapBatches(ColorizeWorker)"  # in the process title Ray gives each worker
BAD_FILES = {  # name: (content, the reason colorize-run gives)
    "empty.jpg": (b"", "empty file"),
    "empty.png": (b"", "empty file"),
    "text.jpg": (b"not a photo at all", "not an image"),
    "text.png": (b"\x00" * 64, "not an image"),
    "notes.tif": (b"II*\x00garbage", "damaged TIFF"),
}


def _encoded(name: str, seed: int) -> bytes:
    return files.encode_image(photo_like(600, 800, 3, seed), Path(name).suffix)


@pytest.fixture(scope="module")
def archive(tmp_path_factory, pointwise_onnx) -> Path:
    """100 photos in two folders, 10 of them bad (empty, not an image, truncated), and what colorize-run
    without --ray writes for them in plain/."""
    root = tmp_path_factory.mktemp("archive")
    for index in range(PHOTOS - BAD):
        name = f"{'album' if index % 2 else 'scans/1950'}/p{index:03}.{'png' if index % 3 == 0 else 'jpg'}"
        (root / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "in" / name).write_bytes(_encoded(name, index))
    for name, (content, _) in BAD_FILES.items():
        (root / "in" / "album" / name).write_bytes(content)
    for index, suffix in enumerate([".jpg", ".png", ".jpg", ".png", ".jpg"]):  # cut short after the header
        (root / "in" / "scans" / f"cut{index}{suffix}").write_bytes(_encoded(f"cut{suffix}", index)[:600])
    assert main(["-r", str(root / "in"), "-o", str(root / "plain"), "-q", "--saturation", "0.8",
                 "--model", str(pointwise_onnx)]) == 1
    return root


@pytest.fixture(scope="module")
def two_nodes() -> str:
    """The address of a Ray cluster of two nodes with one CPU each, on this machine. Its workers run at the tests'
    priority, not Ray's default nice 15, under which a busy machine starves them."""
    from ray.cluster_utils import Cluster

    os.environ["RAY_worker_niceness"] = "0"  # read by the nodes as they start
    try:
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
    finally:
        del os.environ["RAY_worker_niceness"]
    yield cluster.address
    cluster.shutdown()


def _command(archive: Path, address: str, out: Path, report: Path, model: Path) -> list[str]:
    return [sys.executable, "-m", "colorize_runtime", "-r", str(archive / "in"), "-o", str(out), "-q",
            "--saturation", "0.8", "--model", str(model), "--report", str(report), "--ray", address]


def _environment() -> dict:
    return {**os.environ, "PYTHONPATH": f"{REPOSITORY / 'runtime'}{os.pathsep}{REPOSITORY}"}


def _records(report: Path) -> list[dict]:
    return [json.loads(line) for line in report.read_text().splitlines()]


def _check_run(archive: Path, out: Path, report: Path, stderr: str) -> list[dict]:
    """Every good photo written exactly as without --ray, the bad ones failed with their reason (one line each
    on stderr and in the report), no temporary file left."""
    plain = sorted(p.relative_to(archive / "plain") for p in (archive / "plain").rglob("*") if p.is_file())
    assert len(plain) == PHOTOS - BAD
    assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == plain  # no .tmp either
    for relative in plain:
        assert (out / relative).read_bytes() == (archive / "plain" / relative).read_bytes(), relative
    records = _records(report)
    assert len(records) == PHOTOS
    failed = {Path(r["path"]).name: r["reason"] for r in records if r["status"] == "failed"}
    expected = {name: reason for name, (_, reason) in BAD_FILES.items()}
    expected |= {f"cut{i}{s}": "truncated" for i, s in enumerate([".jpg", ".png", ".jpg", ".png", ".jpg"])}
    assert failed.keys() == expected.keys()
    for name, reason in failed.items():
        assert expected[name] in reason, (name, reason)
        assert f": {reason}" in stderr
    assert all(r["status"] == "written" and r["seconds"] > 0 for r in records if Path(r["path"]).name not in failed)
    assert f"{BAD} of {PHOTOS} files failed ({PHOTOS - BAD} colourised, 0 skipped)" in stderr
    return records


def test_a_two_node_cluster_writes_what_colorize_run_writes(archive, two_nodes, pointwise_onnx, tmp_path):
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    result = subprocess.run(_command(archive, two_nodes, out, report, pointwise_onnx), env=_environment(),
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 1, result.stderr
    records = _check_run(archive, out, report, result.stderr)
    assert len({r["node"] for r in records if r["status"] == "written"}) == 2  # both nodes did work

    # a second run skips every output it wrote (and fails the bad photos again)
    result = subprocess.run(_command(archive, two_nodes, out, report, pointwise_onnx), env=_environment(),
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 1
    assert [r["status"] for r in _records(report)].count("skipped") == PHOTOS - BAD


def _worker_pids() -> list[int]:
    pids = []
    for process in Path("/proc").iterdir():
        try:
            if process.name.isdigit() and WORKER_TITLE in (process / "cmdline").read_bytes() \
                    and (process / "stat").read_text().split(")")[-1].split()[0] != "Z":
                pids.append(int(process.name))
        except OSError:  # ended meanwhile
            pass
    return pids


def test_a_worker_killed_during_the_run_loses_nothing(archive, two_nodes, pointwise_onnx, tmp_path):
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    # what a write killed in an earlier run leaves: a temporary file, never renamed into place
    leftover = leftovers.temporary_path(out / "album" / "p001_color.jpg")
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(_encoded("half.jpg", 1)[:1000])
    process = subprocess.Popen(_command(archive, two_nodes, out, report, pointwise_onnx), env=_environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed, killed_after, seen_before, seen_after = None, None, set(), set()
    deadline = time.monotonic() + TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        workers = set(_worker_pids())
        if killed is None:
            seen_before |= workers
            done = len(report.read_text().splitlines()) if report.exists() else 0
            if done >= 8 and workers:
                killed, killed_after = min(workers), done
                os.kill(killed, signal.SIGKILL)
        else:
            seen_after |= workers
        time.sleep(0.01)
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert killed is not None and killed_after < PHOTOS, "the run ended before a worker was killed"
    assert seen_after - seen_before, "no worker replaced the killed one"  # Ray restarted it
    assert process.returncode == 1, stderr
    _check_run(archive, out, report, stderr)
    assert not leftover.exists()


def test_videos_are_colourised_by_the_workers_too(two_nodes, pointwise_onnx, tmp_path):
    from tests.test_video import moving_shapes, read_frames, write_clip  # needs colorize-runtime[video]

    write_clip(tmp_path / "in" / "clip.mp4", moving_shapes(12, 48, 64))
    (tmp_path / "in" / "photo.jpg").write_bytes(_encoded("photo.jpg", 3))
    options = ["-r", str(tmp_path / "in"), "-q", "--model", str(pointwise_onnx), "--crf", "30"]
    assert main([*options, "-o", str(tmp_path / "plain")]) == 0
    result = subprocess.run([sys.executable, "-m", "colorize_runtime", *options, "-o", str(tmp_path / "out"),
                             "--ray", two_nodes], env=_environment(), capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out/photo_color.jpg").read_bytes() == (tmp_path / "plain/photo_color.jpg").read_bytes()
    ray_frames, plain_frames = (read_frames(tmp_path / folder / "clip_color.mp4") for folder in ("out", "plain"))
    assert len(ray_frames) == len(plain_frames) == 12
    assert all(np.array_equal(a, b) for a, b in zip(ray_frames, plain_frames))


# Without a cluster: usage, and --report without Ray

def _photo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_encoded(path.name, 0))
    return path


def test_ray_not_installed_says_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    assert main([str(_photo(tmp_path / "a.jpg")), "--ray"]) == 2
    assert "pip install 'ray[data]==2.60.0'" in capsys.readouterr().err
    assert not (tmp_path / "a_color.jpg").exists()


def test_a_photo_after_ray_is_not_taken_for_an_address(tmp_path, capsys):
    a, b = _photo(tmp_path / "a.jpg"), _photo(tmp_path / "b.jpg")
    assert main([str(a), "--ray", str(b)]) == 2
    assert f"--ray {b}: not a Ray address" in capsys.readouterr().err


def test_ray_options_need_ray(tmp_path, capsys):
    assert main([str(_photo(tmp_path / "a.jpg")), "--ray-workers", "2"]) == 2
    assert "--ray-workers needs --ray" in capsys.readouterr().err


def test_report_without_ray(tmp_path, pointwise_onnx, capsys):
    good, bad = _photo(tmp_path / "good.jpg"), tmp_path / "bad.png"
    bad.write_bytes(b"")
    report = tmp_path / "report.jsonl"
    argv = [str(good), str(bad), "--model", str(pointwise_onnx), "--report", str(report)]
    assert main(argv) == 1
    records = {Path(r["path"]).name: r for r in _records(report)}
    assert records["good.jpg"]["status"] == "written" and records["good.jpg"]["output"] == \
        str(tmp_path / "good_color.jpg")
    assert records["bad.png"]["status"] == "failed" and records["bad.png"]["reason"] == "empty file (0 bytes)"
    assert all(r["seconds"] >= 0 for r in records.values())
    assert main(argv) == 1  # again: the report is rewritten, the output skipped
    assert [r["status"] for r in _records(report)] == ["skipped", "failed"]
    capsys.readouterr()


def test_report_cannot_be_a_photo(tmp_path, pointwise_onnx, capsys):
    photo = _photo(tmp_path / "a.jpg")
    assert main([str(photo), "--model", str(pointwise_onnx), "--report", str(photo)]) == 2
    assert "which this run reads or writes; refusing to overwrite it" in capsys.readouterr().err
    assert files.read_image(photo).shape == (600, 800, 3)
    assert np.array_equal(files.read_image(photo), files.decode_image(_encoded("a.jpg", 0)))


def test_a_shipped_model_name_wins_over_a_folder_of_that_name(two_nodes, tmp_path):
    """As without --ray: --model natural is the shipped model, even run where ./natural/ is a folder."""
    (tmp_path / "natural").mkdir()
    photo = _photo(tmp_path / "a.jpg")
    result = subprocess.run([sys.executable, "-m", "colorize_runtime", "a.jpg", "-q", "--model", "natural", "--ray",
                             two_nodes], cwd=tmp_path, env=_environment(), capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert result.returncode == 0 and result.stderr == ""
    assert files.read_image(tmp_path / "a_color.jpg").shape == files.read_image(photo).shape


def test_ctrl_c_counts_every_photo_written_by_then(archive, two_nodes, pointwise_onnx, tmp_path):
    """The photos of a batch are on disk before its results reach the driver: after Ctrl-C the summary counts
    them too, as the files on disk say."""
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    process = subprocess.Popen(_command(archive, two_nodes, out, report, pointwise_onnx), env=_environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + TIMEOUT
    while not (out.exists() and any(out.rglob("*_color.*"))) and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=TIMEOUT)
    written = sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert process.returncode == 130, stderr
    assert stderr.splitlines()[-1] == f"colorize-run: interrupted: {len(written)} written; the others were not"
    assert sorted(Path(r["output"]) for r in _records(report) if r["status"] == "written") == written
