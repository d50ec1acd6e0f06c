"""`kdiag lab up | down | status`: bring the practice cluster up, report on it, take it down.

`up` records every pid it starts in DIR/state.json; `down` stops exactly those (checking each
pid still runs the recorded program) and removes what `up` created.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from kdiag_lab import binaries as lab_binaries
from kdiag_lab import controlplane
from kdiag_lab.components import Daemon, health
from kdiag_lab.errors import LabError
from kdiag_lab.paths import LabPaths
from kdiag_lab.processes import stop

Emit = Callable[[str], None]


@dataclass
class LabState:
    server: str = ""
    datapath: str = ""
    workers: int = 0
    proxy_mode: str = ""
    kubernetes_version: str = lab_binaries.KUBERNETES_VERSION
    daemons: list[Daemon] = field(default_factory=list)

    @classmethod
    def load(cls, paths: LabPaths) -> LabState | None:
        try:
            raw: dict[str, Any] = json.loads(paths.state_file.read_text())
        except (OSError, ValueError):
            return None
        daemons = [Daemon(**d) for d in raw.pop("daemons", [])]
        return cls(daemons=daemons, **raw)

    def save(self, paths: LabPaths) -> None:
        paths.state_file.write_text(json.dumps(asdict(self), indent=2))

    def running(self) -> list[Daemon]:
        return [d for d in self.daemons if d.running()]


def up(
    paths: LabPaths, *, datapath: str, workers: int, emit: Emit, dataplane: bool = True,
    proxy_mode: str = "nftables",
) -> LabState:
    """Start the lab unless it already runs; a lab with some processes gone gets them back.
    Returns its state."""
    require_not_in_use(paths)
    existing = LabState.load(paths)
    if existing and existing.running():
        return _repair(paths, existing, emit)
    if existing:
        emit("found a stale lab (its processes are gone): cleaning it up first")
        down(paths, emit=emit)
    bins = lab_binaries.resolve(build=True, emit=emit)
    state = LabState(
        datapath=datapath if dataplane else "", workers=workers if dataplane else 0,
        proxy_mode=proxy_mode if dataplane else "",
    )
    try:
        state.server = controlplane.start(paths, bins, emit, state.daemons)
        state.save(paths)  # saved early: a failure below must still let `down` find the daemons
        controlplane.bootstrap_objects(paths)
        controlplane.wait_aggregated(paths)
        if dataplane:
            from kdiag_lab import dataplane as lab_dataplane

            state.daemons += lab_dataplane.start(paths, datapath, workers, emit, proxy_mode=proxy_mode)
        state.save(paths)
    except BaseException:
        # Half a lab is worse than none: stop whatever did start, then report. The logs stay
        # (the error names them); the next `up` or `down` clears the directory.
        state.save(paths)
        _stop_daemons(paths, state, emit=lambda _m: None)
        raise
    return state


def _repair(paths: LabPaths, state: LabState, emit: Emit) -> LabState:
    """`up` on a lab that runs: start again what is gone (same flags, ports and etcd data), then
    check every daemon's health. What cannot be restarted in place fails with one line."""
    gone = [d for d in state.daemons if not d.running()]
    if not gone:
        unhealthy = [(d, health(d, paths.ca_cert)) for d in state.daemons]
        bad = [(d, h) for d, h in unhealthy if not h.ok]
        if bad:
            daemon, result = bad[0]
            raise LabError(
                f"lab in {paths.root} is degraded: {daemon.name} (pid {daemon.pid}) is running but "
                f"not healthy ({result.detail})", hint="`kdiag lab down` then `kdiag lab up`",
            )
        emit(f"lab already up in {paths.root} (server {state.server}); `kdiag lab down` first to rebuild")
        return state
    fixed = [d for d in gone if not d.argv]
    if fixed:
        names = ", ".join(d.name for d in fixed)
        raise LabError(f"lab in {paths.root} is degraded: {names} is gone and cannot be restarted in place",
                       hint="`kdiag lab down` then `kdiag lab up`")
    restarted = []
    for index, daemon in enumerate(state.daemons):
        if daemon in gone:
            state.daemons[index] = daemon.restarted()
            restarted.append(state.daemons[index])
            emit(f"restarted {daemon.name} (was pid {daemon.pid}, now {state.daemons[index].pid})")
    state.save(paths)
    controlplane.wait_healthy(paths, state.daemons)
    emit(f"lab in {paths.root} is up again: {', '.join(d.name for d in restarted)} restarted")
    return state


def down(paths: LabPaths, *, emit: Emit) -> bool:
    """Stop what `up` started and remove the lab directory. False when there was nothing."""
    state = LabState.load(paths)
    if state is None:
        if paths.root.exists() and (paths.root / "tokens.csv").exists():
            shutil.rmtree(paths.root, ignore_errors=True)
        return False
    _stop_daemons(paths, state, emit)
    shutil.rmtree(paths.root, ignore_errors=True)
    return True


def _stop_daemons(paths: LabPaths, state: LabState, emit: Emit) -> None:
    if state.datapath:
        from kdiag_lab import dataplane as lab_dataplane

        lab_dataplane.stop(paths, emit)
    # Reverse start order: the kubelet and controllers before the apiserver, etcd last.
    for daemon in reversed(state.daemons):
        if stop(daemon.pid, daemon.marker):
            emit(f"stopped {daemon.name} (pid {daemon.pid})")


def status(paths: LabPaths) -> dict[str, Any]:
    state = LabState.load(paths)
    if state is None:
        return {"up": False, "dir": str(paths.root)}
    components = []
    for daemon in state.daemons:
        result = health(daemon, paths.ca_cert)
        components.append({
            "name": daemon.name,
            "pid": daemon.pid,
            "running": result.detail != "GONE",
            "healthy": result.ok,
            "health": result.detail,
            "check": daemon.health,
            "port": daemon.port or None,
            "version": daemon.version or None,
        })
    if state.datapath:
        from kdiag_lab import dataplane as lab_dataplane

        components += lab_dataplane.status_components(paths)
    return {
        "up": all(c["healthy"] for c in components) and bool(components),
        "dir": str(paths.root),
        "server": state.server,
        "kubeconfig": str(paths.kubeconfig),
        "kubernetesVersion": state.kubernetes_version,
        "datapath": state.datapath,
        "proxyMode": state.proxy_mode,
        "workers": state.workers,
        "daemons": components,
    }


def require_not_in_use(paths: LabPaths) -> None:
    if paths.root.exists() and not (paths.root / "tokens.csv").exists() and any(paths.root.iterdir()):
        raise LabError(f"{paths.root} exists and is not a lab directory", hint="choose another --dir")
