"""colorize-run --ray: the batch that cli.plan() makes, colourised on a Ray cluster with Ray Data.

The driver (where colorize-run runs) plans the jobs as without --ray and decides there which outputs to skip
(existing ones, unless --force). The other jobs become a Ray Data dataset of (source, target) rows, made from the
list (from_items: the rows are in the object store at once, so no read tasks compete with the workers for CPUs),
one block per batch. map_batches runs it on a pool of actors, ColorizeWorker, each holding one Colorizer (its
onnxruntime session built once) and calling Colorizer.colorize_file: the formats, bit depth, alpha, size limit
and atomic write of colorize-run. The results (path, status, reason, seconds, node) stream back to the driver as
each batch finishes, for the lines, the progress bar, the summary and --report (report.BatchReport, as without
--ray).

Nothing is lost or half-written when a worker dies (killed, out of memory, its node gone):
- Ray starts a new actor and runs the dead one's batch again (max_restarts, max_task_retries). The rerun writes
  over the photos that the first try had finished: skipping was decided by the driver before the run, so a
  worker always writes (never over an input: check_target refuses that whatever force says).
- Every write goes to a temporary file, then a rename (files.write_atomic), so a target is never half a photo.
  A worker killed during a write leaves its temporary file behind, never renamed; the driver removes the run's
  leftovers at the end.
- A batch whose worker dies on every try (a photo that runs it out of memory each time) is given up after
  MAX_TASK_RETRIES retries (DataContext.max_errored_blocks lets the others go on); its photos are reported failed.

Paths: the workers open the sources, the targets and the model by the absolute paths the driver sees, so they
must be on a file system that every node mounts at the same place.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import re
import sys
import time
import warnings
from pathlib import Path

from colorize_runtime import process_guard
from colorize_runtime.jobs import MODEL_OPTIONS, PROG, Job, files_of_the_run
from colorize_runtime.report import FAILED, SKIPPED, WRITTEN, BatchReport, one_line

BATCH_SIZE = 4          # photos per map_batches call; a photo's result reaches the driver when its batch is done
MAX_TASK_RETRIES = 3    # reruns of a batch whose worker died, before its photos are reported failed
INSTALL_HINT = ("--ray needs Ray Data: pip install 'ray[data]==2.60.0' (in a clone of colorize: pip install "
                "'.[ray]'), on every node of the cluster")
RAY_LOG_LEVEL_LINE = re.compile(rb"logging\.cc:\d+: Set ray log level from environment variable")
ADDRESS = re.compile(r"^(auto|local|[a-z][a-z0-9+.-]*://.+|[^/\\]+:\d+)$")  # what ray.init takes


class ColorizeWorker:
    """A Ray actor: one Colorizer, built when the actor starts, colourising batches of (source, target) rows:
    photos with colorize_file, videos with colorize_video (video_options: crf, temporal_smoothing, network_interval)."""

    def __init__(self, model: str | None, options: dict, quality: int, max_pixels: int, video_options: dict) -> None:
        import cv2
        import ray

        from colorize_runtime.colorizer import Colorizer

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # each failure gets one line of ours
        self.colorizer = Colorizer(model, **options)
        self.quality, self.max_pixels, self.video_options = quality, max_pixels, video_options
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: dict) -> dict:
        import cv2

        from colorize_runtime import video
        from colorize_runtime.errors import ColorizeError

        results: dict[str, list] = {"index": [], "status": [], "reason": [], "seconds": [], "node": []}
        for index, source, target in zip(batch["index"], batch["source"], batch["target"]):
            start = time.perf_counter()
            try:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                if video.is_video(source):
                    self.colorizer.colorize_video(source, target, force=True, max_pixels=self.max_pixels,
                                                  **self.video_options)
                else:
                    self.colorizer.colorize_file(source, target, force=True, quality=self.quality,
                                                 max_pixels=self.max_pixels)
                status, reason = WRITTEN, ""
            except (ColorizeError, OSError, cv2.error, MemoryError) as error:
                status, reason = FAILED, one_line(error)
            for column, value in zip(results, (int(index), status, reason, time.perf_counter() - start, self.node)):
                results[column].append(value)
        return results


def run_on_ray(jobs: list[Job], args: argparse.Namespace) -> int:
    """Colourise the jobs on the Ray cluster at args.ray ("": a Ray started here); the exit code of colorize-run."""
    if args.ray and not ADDRESS.match(args.ray):
        print(f"{PROG}: --ray {args.ray}: not a Ray address (auto, HOST:PORT or ray://HOST:PORT); with no "
              "address, put --ray after the photos", file=sys.stderr)
        return 2
    try:
        import ray
        import ray.data
        from ray.util.annotations import RayDeprecationWarning
    except ImportError:
        print(f"{PROG}: {INSTALL_HINT}", file=sys.stderr)
        return 2
    from colorize_runtime import files
    from colorize_runtime.colorizer import MODEL_ALIASES, SHIPPED_MODELS, ColorizeError, Colorizer

    options = {name: getattr(args, name) for name in MODEL_OPTIONS if name in args}
    # A model given by a path that exists here is sent as an absolute path: the workers' folder is not ours. A
    # shipped model's name stays a name, as the Colorizer reads it, even where a file or folder has that name.
    shipped = args.model in SHIPPED_MODELS or args.model in MODEL_ALIASES
    model = str(Path(args.model).resolve()) if args.model and not shipped and Path(args.model).exists() \
        else args.model
    try:  # checked once here, before any photo is touched; on the CPU, as the workers' GPUs may not be here
        model_path = Colorizer(model, **{**options, "providers": "cpu"}).model_path
    except ColorizeError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    try:
        report = BatchReport(len(jobs), args, files_of_the_run(jobs, args, model_path))
    except (OSError, ColorizeError) as error:
        print(f"{PROG}: --report {args.report}: {getattr(error, 'strerror', None) or error}", file=sys.stderr)
        return 2

    to_do = []
    for index, job in enumerate(jobs):
        try:
            if job.error:
                raise files.ImageFileError(job.error)
            files.check_target(job.source, job.target, args.force)
            to_do.append(index)
        except files.OutputExistsError as error:
            report.add(job.source, job.target, SKIPPED, str(error))
        except files.ImageFileError as error:
            report.add(job.source, job.target, FAILED, str(error))
    if not to_do:
        return report.finish()

    cpus = 1.0 if args.ray_cpus_per_worker is None else args.ray_cpus_per_worker
    gpus = args.ray_gpus_per_worker or 0.0
    options.setdefault("threads", max(1, round(cpus)))  # onnxruntime would take every core of the node
    # Ray's C++ messages on stderr (one per worker: its constructor arguments are in the object store, which
    # is where Ray Data puts them) would drown the one-line errors; they stay in Ray's log files.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    done: set[int] = set()
    before = {index: _file_identity(jobs[index].target) for index in to_do}  # what each target was, if anything
    try:
        with process_guard.stderr_captured() as captured:  # the line that says the log level was set
            ray.init(address=args.ray or None, logging_level=logging.ERROR, log_to_driver=False)
        process_guard.pass_on_to_stderr(b"".join(line for line in captured[0].splitlines(keepends=True)
                                                 if not RAY_LOG_LEVEL_LINE.search(line)))
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)  # errors reach us as exceptions or missing results
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = context.print_on_execution_start = False  # the progress bar is ours
        context.max_errored_blocks = -1  # a batch given up (see MAX_TASK_RETRIES) does not stop the others
        batches = math.ceil(len(to_do) / BATCH_SIZE)
        workers = min(batches, args.ray_workers or _workers_that_fit(ray.cluster_resources(), cpus, gpus))
        rows = [{"index": index, "source": str(jobs[index].source.resolve()),
                 "target": str(jobs[index].target.resolve())} for index in to_do]
        with warnings.catch_warnings():
            # Ray 2.60 deprecates passing actor options this way, but has no named parameter for these two yet
            warnings.simplefilter("ignore", RayDeprecationWarning)
            results = ray.data.from_items(rows, override_num_blocks=batches).map_batches(
                ColorizeWorker, batch_size=BATCH_SIZE, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=cpus, num_gpus=gpus,
                fn_constructor_kwargs={"model": model, "options": options, "quality": args.quality,
                                       "max_pixels": args.max_pixels, "video_options": {
                                           "crf": args.crf, "temporal_smoothing": args.temporal_smoothing,
                                           "network_interval": args.network_interval}},
                max_restarts=-1, max_task_retries=MAX_TASK_RETRIES)  # a dead worker is always replaced
        for row in results.iter_rows():
            index = int(row["index"])
            done.add(index)
            job = jobs[index]
            report.add(job.source, job.target, str(row["status"]), str(row["reason"]) or None,
                       float(row["seconds"]), node=str(row["node"]))
        for index in to_do:
            if index not in done:
                report.add(jobs[index].source, jobs[index].target, FAILED,
                           f"its Ray worker died {MAX_TASK_RETRIES + 1} times (killed, or out of memory)")
    except KeyboardInterrupt:
        # A batch's photos are written before its results reach us: those written meanwhile are counted (a new
        # file at the target: every write ends in a rename), once no worker of this run writes any more.
        ray.shutdown()
        for index in to_do:
            if index not in done and _file_identity(jobs[index].target) not in (None, before[index]):
                report.add(jobs[index].source, jobs[index].target, WRITTEN)
        return report.interrupted("the others were not")
    except ray.exceptions.RayError as error:  # the workers could not start (a model option that fails there)
        lines = [line for line in str(error).splitlines() if line.strip()]
        print(f"{PROG}: Ray: {lines[-1] if lines else type(error).__name__}", file=sys.stderr)
        report.close()
        return 2
    finally:
        ray.shutdown()  # before the clean-up: no worker of this run writes any more
        _remove_leftover_temporaries(jobs[index].target for index in to_do)
    return report.finish()


def _file_identity(path: Path) -> tuple[int, int, int] | None:
    """(device, inode, modification time) of a file, None if there is none: a file renamed into place since
    differs."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino, status.st_mtime_ns


def _workers_that_fit(resources: dict, cpus: float, gpus: float) -> int:
    """As many workers as the cluster's CPUs and GPUs hold at once (at least one)."""
    fits = [resources.get("CPU", 0) / cpus] if cpus else []
    fits += [resources.get("GPU", 0) / gpus] if gpus else []
    return max(1, int(min(fits))) if fits else max(1, int(resources.get("CPU", 1)))


def _remove_leftover_temporaries(targets) -> None:
    """Remove the temporary files of killed writes to these targets, whichever node's worker wrote them
    (leftovers.TEMPORARY: .NAME.colorize-HOST-PID-XXXXXXXX.tmp beside the target). One folder listing per output
    folder."""
    from colorize_runtime.leftovers import TEMPORARY as temporary

    names_by_folder: dict[Path, set[str]] = {}
    for target in targets:
        names_by_folder.setdefault(target.parent, set()).add(target.name)
    for folder, names in names_by_folder.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:  # never created: nothing was written there
            continue
        for entry in entries:
            match = temporary.match(entry.name)
            if match and match["name"] in names:
                Path(entry.path).unlink(missing_ok=True)
