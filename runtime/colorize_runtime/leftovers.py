"""Temporary files that are recognisably colorize-run's, and the sweep of those a killed run left behind.

Every output is written to a temporary file beside its target and renamed when complete. A run killed outright
(SIGKILL, a power cut) cannot remove its temporary file, so the name says whose it is:
``.NAME.colorize-HOST-PID-XXXXXXXX.tmp`` (NAME the target's name, HOST this machine, PID the writing process).
The next run that writes into the same folder removes the ones of this machine whose process is gone; a
temporary file of a run still going, or of another machine (a Ray node on a shared file system), is left alone.
"""
from __future__ import annotations

import os
import re
import secrets
import socket
from pathlib import Path
from typing import Iterable

_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40] or "host"
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.colorize-(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)-[0-9a-f]{8}\.tmp$")


def temporary_path(target: Path) -> Path:
    """Where the output target is written before its rename: a hidden file beside it, named as ours."""
    return target.with_name(f".{target.name}.colorize-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep(folders: Iterable[Path]) -> list[Path]:
    """Removes from each folder the temporary files of this machine's colorize-run processes that are gone;
    returns them. A folder that cannot be listed is skipped."""
    removed = []
    for folder in dict.fromkeys(folders):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            match = TEMPORARY.match(entry.name)
            if match and match["host"] == _HOST and not _alive(int(match["pid"])) \
                    and entry.is_file(follow_symlinks=False):
                try:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
                except OSError:
                    pass
    return removed
