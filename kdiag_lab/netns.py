"""Low-level network-namespace plumbing for the lab, built on iproute2.

Why `ip` and not pyroute2: every change the lab makes is a handful of netlink requests in one
namespace, and `ip -n NS -batch -` sends a whole batch from one short process (~3 ms), so a pod's
network is ready in two or three execs (~15 ms measured). pyroute2 0.9 reaches other namespaces
through helper processes and an asyncio core, which is heavier to run inside the threaded lab
kubelet, and its errors are less readable. iproute2 is also what docs/lab.md teaches, so the
commands the lab runs are the commands a reader can type. `ip -n` never touches the root
namespace: every command here names the lab namespace it acts in.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from kdiag_lab.processes import wait_gone

NETNS_DIR = Path("/run/netns")
IFNAMSIZ = 15  # usable characters of a Linux interface name


class NetnsError(RuntimeError):
    """An iproute2/nft command failed; the message carries the command and its stderr."""


def _run(
    argv: Sequence[str], stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        what = " ".join(argv)
        if stdin:
            what += " <<< " + "; ".join(line for line in stdin.splitlines() if line)
        raise NetnsError(f"{what}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    return proc


def ip(netns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one `ip -n NETNS ...` command."""
    return _run(["ip", "-n", netns, *args], check=check)


def ip_batch(netns: str, lines: Iterable[str], force: bool = False) -> None:
    """Run many `ip` commands in NETNS from one process. `force` keeps going past errors."""
    script = "".join(line + "\n" for line in lines)
    if not script:
        return
    argv = ["ip", "-n", netns]
    if force:
        argv.append("-force")
    _run([*argv, "-batch", "-"], stdin=script, check=not force)


def exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def add(name: str) -> None:
    """Create a named network namespace (a bind mount under /run/netns)."""
    _run(["ip", "netns", "add", name])


def names(prefix: str = "") -> list[str]:
    """Named namespaces starting with `prefix`, read straight from /run/netns (no exec)."""
    try:
        entries = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in entries if n.startswith(prefix))


def pids(name: str) -> list[int]:
    proc = _run(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def delete(name: str, kill: bool = True) -> None:
    """Kill what still runs inside, then remove the namespace. Missing namespaces are fine.

    Processes pin a namespace (and its devices) even after its name is gone, so they go first.
    """
    if not exists(name):
        return
    if kill:
        victims = pids(name)
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_gone(victims, timeout=2.0)
    proc = _run(["ip", "netns", "del", name], check=False)
    if proc.returncode != 0 and exists(name):
        raise NetnsError(f"ip netns del {name}: {proc.stderr.strip()}")


def exec_argv(name: str, argv: Sequence[str]) -> list[str]:
    """The argv that runs `argv` inside namespace `name` (with its own /sys, as `ip netns exec` does)."""
    return ["ip", "netns", "exec", name, *argv]


def run_in(
    name: str, argv: Sequence[str], check: bool = True, timeout: float | None = 30.0
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(exec_argv(name, argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise NetnsError(f"[{name}] {' '.join(argv)}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    return proc


def sysctl(name: str, values: Mapping[str, str | int]) -> None:
    """Set sysctls inside a namespace in one exec (net.* sysctls are per namespace)."""
    if values:
        run_in(name, ["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in values.items())])


def nft(name: str, script: str) -> None:
    """Load an nftables script inside a namespace (`nft -f -`)."""
    _run(exec_argv(name, ["nft", "-f", "-"]), stdin=script)
