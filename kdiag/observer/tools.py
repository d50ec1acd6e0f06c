# ruff: noqa: UP006, UP031, UP035, UP045
# Shipped to nodes and run there on Python 3.8+, like kdiag/agent: no 3.10 syntax upgrades.
"""Running the node's own tools (ip, bridge, nft, iptables-save): bounded in time, never raising;
an unavailable tool is reported, not fatal."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any, List, NamedTuple, Optional, Tuple

TOOL_TIMEOUT = 5.0
# Tools in sbin are not on every PATH a container starts with.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/bin"])


class ToolRun(NamedTuple):
    ok: bool
    stdout: str
    error: str  # why it failed: the tool's last stderr line, "not found", or the timeout


def find(tool: str) -> Optional[str]:
    return shutil.which(tool, path=SEARCH_PATH)


def run(argv: List[str]) -> ToolRun:
    path = find(argv[0])
    if path is None:
        return ToolRun(False, "", "%s not found" % argv[0])
    try:
        proc = subprocess.run([path, *argv[1:]], capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                              check=False, env=dict(os.environ, LC_ALL="C"))
    except subprocess.TimeoutExpired:
        return ToolRun(False, "", "%s timed out after %gs" % (argv[0], TOOL_TIMEOUT))
    except OSError as error:
        return ToolRun(False, "", "%s: %s" % (argv[0], error))
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        reason = lines[-1] if lines else "%s exited %d" % (argv[0], proc.returncode)
        return ToolRun(False, proc.stdout, reason)
    return ToolRun(True, proc.stdout, "")


def run_json(argv: List[str]) -> Tuple[Any, str]:
    """(parsed JSON or None, error)."""
    result = run(argv)
    if not result.ok:
        return None, result.error
    try:
        return json.loads(result.stdout or "null"), ""
    except ValueError:
        return None, "%s printed no JSON" % argv[0]


def read_sysctl(path: str) -> Optional[int]:
    """/proc/sys/<path> (slashes: interface names have dots) as an integer; None when it does
    not exist (no such interface). /proc/sys/net shows the reader's network namespace."""
    try:
        with open("/proc/sys/" + path) as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
