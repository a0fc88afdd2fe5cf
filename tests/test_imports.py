"""No import circles in colorize_runtime: the command line (cli.py) sits on top, and no module below it needs it.

Each module is imported alone, in a fresh interpreter, so that what one test imported cannot hide what another
needs. Only __main__ (which runs the command) may load cli.py.
"""
from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import colorize_runtime

MODULES = sorted(f"colorize_runtime.{info.name}" for info in pkgutil.iter_modules(colorize_runtime.__path__))
ALLOWED_TO_LOAD_CLI = {"colorize_runtime.cli", "colorize_runtime.__main__"}


def _loaded_after_importing(module: str) -> set[str]:
    """The colorize_runtime modules in sys.modules after `import module` in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", f"import sys, {module}; "
         "print('\\n'.join(name for name in sys.modules if name.startswith('colorize_runtime')))"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"import {module} failed:\n{result.stderr}"
    return set(result.stdout.split())


def test_every_module_is_found():
    assert {"colorize_runtime.cli", "colorize_runtime.cluster", "colorize_runtime.jobs",
            "colorize_runtime.report", "colorize_runtime.colorizer"} <= set(MODULES)


@pytest.mark.parametrize("module", sorted(set(MODULES) - ALLOWED_TO_LOAD_CLI))
def test_module_imports_without_the_command_line(module):
    loaded = _loaded_after_importing(module)
    assert module in loaded
    assert "colorize_runtime.cli" not in loaded, f"importing {module} loads colorize_runtime.cli"


def test_shared_job_module_is_at_the_bottom():
    """jobs.py is what cli.py, cluster.py and report.py share: it imports nothing else of colorize_runtime."""
    assert _loaded_after_importing("colorize_runtime.jobs") == {"colorize_runtime", "colorize_runtime.jobs"}
