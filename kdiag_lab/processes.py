"""Start, recognise and stop the lab's daemons by pid, and find free loopback ports.

`down` must stop exactly what `up` started: a pid is only signalled if its command line still
names the program recorded for it, so a recycled pid is never hit.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def spawn(argv: Sequence[str], log_file: Path, *, env: dict[str, str] | None = None) -> int:
    """Start a daemon in its own session (it outlives this CLI), output appended to `log_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    # Popen returns while the kernel may still be finishing the exec: /proc/<pid>/cmdline reads
    # empty for a moment, and `is_ours` would call the new daemon dead. Wait for it to settle.
    deadline = time.monotonic() + 2.0
    while not cmdline(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    return proc.pid


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_ours(pid: int, marker: str) -> bool:
    """True while `pid` runs and its command line contains `marker` (a binary path or module)."""
    return any(marker in part for part in cmdline(pid))


def _reap(pid: int) -> None:
    # Daemons spawned by this very process (tests) would linger as zombies without a wait.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(pid: int, marker: str, *, grace: float = 10.0) -> bool:
    """SIGTERM, wait up to `grace` seconds for the exit, then SIGKILL. Returns whether it ran.

    The wait is on a pidfd, which becomes readable when the process exits (no polling); the
    pidfd is opened before the signal, so a pid recycled meanwhile can never be signalled.
    """
    if not is_ours(pid, marker):
        return False
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGTERM)
        if not _exited(pidfd, grace):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            _exited(pidfd, grace)
    except ProcessLookupError:
        pass
    finally:
        os.close(pidfd)
        _reap(pid)
    return True


def wait_gone(pids: Sequence[int], timeout: float) -> None:
    """Wait (on pidfds, no polling) until the processes have exited; our children or not."""
    fds = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            fds.append(os.pidfd_open(pid))
    try:
        deadline = time.monotonic() + timeout
        for fd in fds:
            _exited(fd, max(0.0, deadline - time.monotonic()))
    finally:
        for fd in fds:
            os.close(fd)


def _exited(pidfd: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))
