"""What colorize-run does about its process: SIGTERM handled like Ctrl-C (exit 143 instead of 130), standard
streams that are closed at start or by their reader (`colorize-run ... | head`), its own lines kept apart from
the decoders' stderr, and control characters in the paths it prints (a file name with a newline stays on its one
line)."""
from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
from contextlib import contextmanager

EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be, so that it takes the same clean way out:
    temporary files removed, the summary line printed."""


@contextmanager
def signals_as_interrupt():
    """While the block runs (in the main thread), SIGINT raises KeyboardInterrupt, as Python's own handler does,
    and SIGTERM raises Terminated. Yields a dict: "terminated" says whether SIGTERM came, "interrupted" whether
    either did, also where a library caught the exception and raised another in its place (numpy and
    onnxruntime turn an interrupt during their import into an ImportError)."""
    state = {"terminated": False, "interrupted": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum, frame):
        state["interrupted"] = True
        state["terminated"] = state["terminated"] or signum == signal.SIGTERM
        raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt

    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield state
    finally:
        for signum, action in previous.items():
            signal.signal(signum, action)


def exit_code(code: int, state: dict) -> int:
    """The exit code of a run that may have been stopped by SIGTERM: 143 where Ctrl-C's would be 130."""
    return EXIT_TERMINATED if state["terminated"] and code == EXIT_INTERRUPTED else code


def reopen_closed_standard_streams() -> None:
    """A descriptor 0, 1 or 2 closed at start (`colorize-run ... >&-`) is opened on /dev/null: else the first
    file the run opens would take its number, and output meant for the terminal could land in a photo."""
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != descriptor:
                os.dup2(opened, descriptor)
                os.close(opened)


@contextmanager
def stderr_of_our_own():
    """While the block runs, sys.stderr writes to a duplicate of file descriptor 2, not to descriptor 2 itself:
    decoding.imdecode points descriptor 2 at a capture file while a photo is decoded (in the reader thread), and
    a line printed meanwhile, or just before the process exits, would land there and be lost. A stderr closed at
    start (sys.stderr None; reopen_closed_standard_streams has put /dev/null on descriptor 2) is given a stream
    too. In-process callers whose sys.stderr is not descriptor 2 (pytest's capsys) keep theirs."""
    try:
        ours = sys.stderr is None or sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor, or a closed one
        ours = False
    if not ours:
        yield
        return
    previous = sys.stderr
    stream = open(os.dup(2), "w", encoding=getattr(previous, "encoding", None) or "utf-8",
                  errors="backslashreplace", buffering=1)
    sys.stderr = stream
    try:
        yield
    finally:
        sys.stderr = previous
        try:
            stream.close()
        except OSError:
            pass


@contextmanager
def stderr_captured():
    """While the block runs, what C libraries write to file descriptor 2 (libjpeg, Ray's C++ logging) goes to a
    temporary file instead; yields a list that holds the captured bytes once the block has ended. Python's
    sys.stderr under colorize-run is a duplicate of descriptor 2 (stderr_of_our_own), so our own lines are not
    captured."""
    captured: list[bytes] = []
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # no stderr, or a closed one
        pass
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        try:
            os.dup2(capture.fileno(), 2)
            try:
                yield captured
            finally:
                os.dup2(saved, 2)
        finally:
            os.close(saved)
        capture.seek(0)
        captured.append(capture.read())


def pass_on_to_stderr(data: bytes) -> None:
    """Bytes written to file descriptor 2 as they are (captured lines that are not ours to drop)."""
    if data:
        try:
            os.write(2, data)
        except OSError:  # stderr closed by its reader
            pass


def stdout_gone() -> None:
    """stdout's reader went away (a closed pipe): later output to it goes to /dev/null, quietly, also at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


def printed(message: str, stream) -> None:
    """print(message, file=stream), with a stream that is closed or whose reader is gone left quiet."""
    if stream is None:
        return
    try:
        print(message, file=stream, flush=stream is sys.stdout)
    except (BrokenPipeError, ValueError):
        if stream is sys.stdout:
            stdout_gone()
    except OSError:
        pass


_CONTROL = {code: f"\\x{code:02x}" for code in [*range(32), 127]} | {10: "\\n", 13: "\\r", 9: "\\t"}


def shown(text) -> str:
    """A path or reason as one line: control characters (a newline in a file name) escaped as \\n, \\x1b..."""
    return str(text).translate(_CONTROL)
