"""Shared helpers for the lab topology tests: run kdiag_lab.wire inside lab namespaces."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kdiag_lab.topology import LabNetwork


def new_lab_id() -> str:
    return "t" + secrets.token_hex(4)


def wire_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "kdiag_lab.wire", *args]


@contextmanager
def started(net: LabNetwork, ns: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """Start a wire program in `ns`, wait for its `ready` line, stop it on exit."""
    proc = net.popen(ns, wire_argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"wire {args[0]} in {ns} did not start: {line!r} {err}")
        yield proc
    finally:
        proc.kill()
        proc.wait()


def wire(net: LabNetwork, ns: str, *args: str) -> tuple[int, list[dict[str, Any]]]:
    proc = net.run(ns, wire_argv(*args), check=False)
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def udp_ttl(
    net: LabNetwork, src_ns: str, dst_ns: str, dst_ip: str, *send_args: str, port: int = 9999
) -> int | None:
    """TTL with which one UDP datagram from src arrives in dst; None if it never arrives (2 s)."""
    with started(net, dst_ns, "ttl", "--port", str(port), "--timeout", "2") as listener:
        code, _ = wire(net, src_ns, "send", "--to", dst_ip, "--port", str(port), *send_args)
        if code != 0:  # refused locally, e.g. no route in the sender: it did not arrive either
            return None
        out, _ = listener.communicate(timeout=10)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return int(lines[0]["ttl"]) if lines else None


def tcp_ok(net: LabNetwork, src_ns: str, ip: str, port: int, timeout: float = 1.0) -> bool:
    code, _ = wire(net, src_ns, "connect", "--to", ip, "--port", str(port), "--timeout", str(timeout))
    return code == 0


def root_snapshot() -> dict[str, str]:
    """The root namespace's links, addresses and routes (all tables), minus volatile counters."""

    def run(*args: str) -> str:
        return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout

    return {
        "links": run("-o", "link", "show"),
        "addrs": run("-o", "addr", "show"),
        "routes": run("route", "show", "table", "all"),
    }
