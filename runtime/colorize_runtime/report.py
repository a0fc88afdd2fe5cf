"""What a batch run tells its user, whichever engine colourised the photos (this process, or a Ray cluster).

One line per photo (`SOURCE -> TARGET` on stdout; skipped and failed photos as `colorize-run: PATH: REASON` on
stderr), a progress bar on a terminal, the summary and the exit code at the end, and, with --report FILE, one JSON
object per photo in FILE, written as each result arrives: {"path", "output", "status", "reason", "seconds"} (and
"node", the Ray node that did it, under --ray). status is written, skipped or failed. --report - writes the JSON
lines to stdout, and the `SOURCE -> TARGET` lines go to stderr instead, so that stdout is the report alone.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from colorize_runtime.errors import ColorizeError
from colorize_runtime.jobs import PROG
from colorize_runtime.process_guard import printed, shown, stdout_gone

WRITTEN, SKIPPED, FAILED = "written", "skipped", "failed"
REPORT_TO_STDOUT = "-"


def one_line(error: BaseException) -> str:
    """An error's message on one line (OpenCV's and onnxruntime's span several), or its type when it has none."""
    return " ".join(str(error).split()) or type(error).__name__


def _same_file(first: Path, second: Path) -> bool:
    """Whether two paths name one file: the same path once links are followed, or the same file on disk (a hard
    link)."""
    if first.resolve() == second.resolve():
        return True
    try:
        return os.path.samefile(first, second)
    except (OSError, ValueError):  # one of them does not exist (yet)
        return False


class BatchReport:
    """Counts, prints and records the outcome of each job of a batch; finish() gives the exit code."""

    def __init__(self, total: int, args: argparse.Namespace, files_of_the_run: list[Path] = ()) -> None:
        """Opens args.report (OSError if it cannot be written; ColorizeError if it is one of files_of_the_run,
        which it would overwrite) and, on a terminal, the progress bar."""
        self.total, self.quiet, self.verbose = total, args.quiet, args.verbose
        self.counts = dict.fromkeys((WRITTEN, SKIPPED, FAILED), 0)
        to_stdout = args.report == REPORT_TO_STDOUT
        if args.report and not to_stdout:
            for path in files_of_the_run:
                if _same_file(Path(args.report), path):
                    raise ColorizeError(f"that is {path}, which this run reads or writes; refusing to overwrite it")
        self._file = (sys.stdout if to_stdout else open(args.report, "w", encoding="utf-8")) if args.report else None
        self._written_lines = sys.stderr if to_stdout else sys.stdout  # where 'SOURCE -> TARGET' goes
        self._report, self.report_error = args.report, None  # why the report file could not be written to the end
        self._progress = None
        if total > 1 and not args.quiet and sys.stderr.isatty():  # not in logs and pipes
            # imported only here: it is a tenth of a one-photo run's start-up
            from tqdm import tqdm

            self._progress = tqdm(total=total, file=sys.stderr, unit="photo", leave=False)

    def _print(self, message: str, stream) -> None:
        """One line, its control characters escaped; a stream closed by its reader (| head) is left quiet."""
        message = shown(message)
        if self._progress is None or stream is None:
            return printed(message, stream)
        try:
            self._progress.write(message, file=stream)
        except (OSError, ValueError):
            if stream is sys.stdout:
                stdout_gone()

    def note(self, source: Path, message: str) -> None:
        """A remark about a photo that did not fail (printed even with -q, as errors are)."""
        self._print(f"{PROG}: {source}: {message}", sys.stderr)

    def add(self, source: Path, target: Path | None, status: str, reason: str | None = None,
            seconds: float | None = None, size: tuple[int, int] | None = None, **extra) -> None:
        """One job's outcome; size (width, height) and seconds are printed with -v."""
        self.counts[status] += 1
        if status == WRITTEN and not self.quiet:
            details = [f"{size[0]}x{size[1]}"] if size else []
            details += [f"{seconds:.1f} s"] if seconds is not None else []
            self._print(f"{source} -> {target}" + (f" ({', '.join(details)})" if self.verbose and details else ""),
                        self._written_lines)
        elif status == FAILED or (status == SKIPPED and not self.quiet):
            self._print(f"{PROG}: {source}: {reason}", sys.stderr)
        if self._file is not None:
            record = {"path": str(source), "output": None if target is None else str(target), "status": status,
                      "reason": reason, "seconds": None if seconds is None else round(seconds, 3), **extra}
            try:
                self._file.write(json.dumps(record) + "\n")
                self._file.flush()  # a report that is read while the run goes on, or after a crash, is up to date
            except OSError as error:  # a full disk: the photos go on, the exit code says the report is incomplete
                self._lose_report(error)
        if self._progress is not None:
            self._progress.update(1)

    def close(self) -> None:
        """Ends the progress bar and the report file, no summary (finish and interrupted do this too)."""
        if self._progress is not None:
            self._progress.close()
        if self._file is not None:
            try:
                self._file.flush() if self._file is sys.stdout else self._file.close()
            except OSError as error:
                self._lose_report(error)

    def _lose_report(self, error: OSError) -> None:
        self.report_error = error.strerror or str(error)
        self._print(f"{PROG}: --report {self._report}: {self.report_error}; the report stops here, the photos go "
                    "on", sys.stderr)
        file, self._file = self._file, None
        if file is sys.stdout:  # --report -, whose reader has gone
            return stdout_gone()
        try:
            file.close()
        except OSError:
            pass

    def finish(self) -> int:
        """The summary line; exit code 1 when any job failed or the report file could not be written, else 0."""
        self.close()
        written, skipped, failed = self.counts[WRITTEN], self.counts[SKIPPED], self.counts[FAILED]
        if failed:
            printed(f"{PROG}: {failed} of {self.total} files failed ({written} colourised, {skipped} skipped)",
                    sys.stderr)
        elif self.total > 1 and not self.quiet:
            printed(f"{PROG}: {written} colourised, {skipped} skipped", sys.stderr)
        return 1 if failed or self.report_error else 0

    def interrupted(self, in_progress: str) -> int:
        """After Ctrl-C: what was written, what became of the files in progress (in_progress: "the photo in
        progress was not"), and exit code 130."""
        self.close()
        printed(f"{PROG}: interrupted: {self.counts[WRITTEN]} written; {in_progress}", sys.stderr)
        return 130
