"""`kdiag lab`: the local practice cluster (a real kube-apiserver + etcd, namespaces as nodes)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from kdiag.cli.env import Environment
from kdiag.cli.options import output_option
from kdiag.exitcodes import ExitCode
from kdiag_lab.paths import LabPaths, default_lab_dir

app = typer.Typer(help="Run a local practice cluster to learn and test kdiag on.", no_args_is_help=True)

DATAPATHS = ("bridge-vxlan", "bridge-hostgw", "ptp")
PROXY_MODES = ("nftables", "iptables")  # kdiag_lab.kube_proxy.PROXY_MODES, without importing it

DirOption = typer.Option(None, "--dir", help="Lab directory [default: $XDG_STATE_HOME/kdiag_lab].")


def _paths(directory: Path | None) -> LabPaths:
    return LabPaths((directory or default_lab_dir()).resolve())


@app.command()
def up(
    ctx: typer.Context,
    directory: Path | None = DirOption,
    datapath: str = typer.Option(
        "bridge-vxlan", "--datapath", metavar="|".join(DATAPATHS),  # the metavar's choices complete
        help=f"Pod network to build: {', '.join(DATAPATHS)}."
    ),
    nodes: int = typer.Option(2, "--nodes", min=1, max=50, help="Number of worker nodes."),
    proxy_mode: str = typer.Option(
        "nftables", "--proxy-mode", metavar="|".join(PROXY_MODES),
        help="kube-proxy mode on every node: nftables or iptables.",
    ),
    control_plane_only: bool = typer.Option(
        False, "--control-plane-only", help="Only etcd + kube-apiserver (no nodes, pods or network)."
    ),
) -> None:
    """Start etcd, kube-apiserver, lab nodes and the seed pods; print the KUBECONFIG to use."""
    from kdiag.errors import UsageError
    from kdiag_lab import lifecycle

    env: Environment = ctx.obj
    if datapath not in DATAPATHS:
        raise UsageError(f"unknown datapath {datapath!r}", hint=f"choose one of {', '.join(DATAPATHS)}")
    if proxy_mode not in PROXY_MODES:
        raise UsageError(f"unknown proxy mode {proxy_mode!r}", hint=f"choose one of {', '.join(PROXY_MODES)}")
    paths = _paths(directory)
    state = lifecycle.up(
        paths, datapath=datapath, workers=nodes, emit=env.err, dataplane=not control_plane_only,
        proxy_mode=proxy_mode,
    )
    env.err(f"lab up: {state.server} (Kubernetes {state.kubernetes_version})")
    env.out(f"export KUBECONFIG={paths.kubeconfig}")


@app.command()
def down(ctx: typer.Context, directory: Path | None = DirOption) -> None:
    """Stop everything `lab up` started and remove what it created."""
    from kdiag_lab import lifecycle

    env: Environment = ctx.obj
    paths = _paths(directory)
    if lifecycle.down(paths, emit=env.err):
        env.err(f"lab in {paths.root} is down")
    else:
        env.err(f"no lab is up in {paths.root}; nothing to do")


@app.command()
def status(
    ctx: typer.Context,
    directory: Path | None = DirOption,
    output: str = output_option(("text", "json"), "text"),
) -> None:
    """Tell whether the lab runs, where, and each component's pid, health and version."""
    from kdiag_lab import lifecycle

    env: Environment = ctx.obj
    info = lifecycle.status(_paths(directory))
    if output == "json":
        env.out(json.dumps({"apiVersion": "kdiag/v1", "kind": "LabStatus", **info}, indent=2))
    elif not info.get("server"):
        env.out(f"no lab in {info['dir']}")
    else:
        env.out(f"lab {'up' if info['up'] else 'DEGRADED'}: {info['server']}  ({info['dir']})")
        env.out(f"kubernetes {info['kubernetesVersion']}  datapath {info['datapath'] or '-'}  "
                f"proxy {info.get('proxyMode') or '-'}  workers {info['workers']}")
        env.out(f"  {'COMPONENT':<24} {'PID':<8} {'HEALTH':<8} VERSION")
        for daemon in info["daemons"]:
            state = "ok" if daemon["healthy"] else ("GONE" if not daemon["running"] else "FAILING")
            pid = str(daemon["pid"] or "-")  # coredns has none while its pod is not running
            env.out(f"  {daemon['name']:<24} {pid:<8} {state:<8} {daemon['version'] or '-'}")
            if daemon["running"] and not daemon["healthy"]:
                env.out(f"    {daemon['health']}")
        env.out(f"export KUBECONFIG={info['kubeconfig']}")
    if not info["up"]:
        raise typer.Exit(int(ExitCode.PROBLEM))


@app.command()
def build(ctx: typer.Context) -> None:
    """Build (or find) the lab's upstream binaries (apiserver, controller-manager, scheduler, ...)."""
    from kdiag_lab import binaries

    env: Environment = ctx.obj
    found = binaries.resolve(build=True, emit=env.err)
    for path in found.all().values():
        env.out(str(path))


ExecDirOption = typer.Option(
    None, "--dir", help="Lab directory [default: the lab whose kubeconfig $KUBECONFIG names, "
    "else $XDG_STATE_HOME/kdiag_lab]."
)


@app.command(name="exec", context_settings={"ignore_unknown_options": True})
def exec_in(
    target: Annotated[str, typer.Argument(help="node/NAME or pod/[NAMESPACE/]NAME.")],
    command: Annotated[list[str] | None, typer.Argument(help="Command and arguments, after `--`.")] = None,
    directory: Path | None = ExecDirOption,
) -> None:
    """Run a command in a lab node's or pod's network namespace: `kdiag lab exec pod/web -- ip route`."""
    from kdiag.errors import UsageError
    from kdiag_lab import dataplane

    if not command:
        raise UsageError(f"no command to run in {target}",
                         hint=f"kdiag lab exec {target} -- COMMAND [ARG]...")
    paths = _paths(directory) if directory else LabPaths(lab_dir_of_kubeconfig() or default_lab_dir())
    code = dataplane.exec_in(paths, target, list(command))
    if code:
        raise typer.Exit(code)


def lab_dir_of_kubeconfig() -> Path | None:
    """The lab directory of the first $KUBECONFIG entry that is a lab's kubeconfig (`lab up` writes
    DIR/kubeconfig next to DIR/state.json), or None."""
    for entry in os.environ.get("KUBECONFIG", "").split(os.pathsep):
        if not entry:
            continue
        kubeconfig = Path(entry).resolve()
        if kubeconfig.name == LabPaths(kubeconfig.parent).kubeconfig.name and \
                LabPaths(kubeconfig.parent).state_file.is_file():
            return kubeconfig.parent
    return None
