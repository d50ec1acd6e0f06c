"""The lab's real upstream binaries: kube-apiserver, kube-controller-manager, kube-scheduler,
kube-proxy, kubectl, etcd, CoreDNS and kube-router (the NetworkPolicy enforcer).

They are built once from the Go module proxy with the tools-only modules under
`kdiag_lab/toolchain/` and cached outside the clone, in `~/.cache/kdiag/lab/<versions>/bin`.
`KDIAG_KUBE_APISERVER`, `KDIAG_KUBE_CONTROLLER_MANAGER`, `KDIAG_KUBE_SCHEDULER`, `KDIAG_KUBE_PROXY`,
`KDIAG_KUBECTL`, `KDIAG_ETCD`, `KDIAG_COREDNS` and `KDIAG_KUBE_ROUTER` point at existing binaries
instead (e.g. official release downloads).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kdiag_lab.errors import LabError

# Keep in step with kdiag_lab/toolchain/*/go.mod.
KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
COREDNS_VERSION = "v1.14.7"
KUBE_ROUTER_VERSION = "v2.1.0"  # the newest v2 the Go module proxy serves
KUBE_ROUTER_PACKAGE = "github.com/cloudnativelabs/kube-router/v2"
TOOLCHAIN = Path(__file__).parent / "toolchain"

# (binary, Go package, tools module, environment override)
_TARGETS = {
    "kube-apiserver": ("k8s.io/kubernetes/cmd/kube-apiserver", "kubernetes", "KDIAG_KUBE_APISERVER"),
    "kubectl": ("k8s.io/kubernetes/cmd/kubectl", "kubernetes", "KDIAG_KUBECTL"),
    "etcd": ("go.etcd.io/etcd/server/v3", "etcd", "KDIAG_ETCD"),
    "kube-controller-manager": (
        "k8s.io/kubernetes/cmd/kube-controller-manager", "kubernetes", "KDIAG_KUBE_CONTROLLER_MANAGER"
    ),
    "kube-scheduler": ("k8s.io/kubernetes/cmd/kube-scheduler", "kubernetes", "KDIAG_KUBE_SCHEDULER"),
    "kube-proxy": ("k8s.io/kubernetes/cmd/kube-proxy", "kubernetes", "KDIAG_KUBE_PROXY"),
    "coredns": ("github.com/coredns/coredns", "coredns", "KDIAG_COREDNS"),
    "kube-router": (f"{KUBE_ROUTER_PACKAGE}/cmd/kube-router", "kube-router", "KDIAG_KUBE_ROUTER"),
}
# The cache directory is named after the Kubernetes and etcd releases; binaries of other releases
# carry theirs in the file name, so bumping one rebuilds only that binary.
_CACHE_NAMES = {"coredns": f"coredns-{COREDNS_VERSION}", "kube-router": f"kube-router-{KUBE_ROUTER_VERSION}"}
# What `--version` prints comes from these variables in releases' own builds.
_EXTRA_LDFLAGS = {"kube-router": f"-X {KUBE_ROUTER_PACKAGE}/pkg/version.Version={KUBE_ROUTER_VERSION}"}
OVERRIDE_VARS = tuple(env_var for _package, _module, env_var in _TARGETS.values())
# While a cold build runs, say how long it has been running this often (a build takes minutes).
PROGRESS_EVERY = 30.0


@dataclass(frozen=True)
class LabBinaries:
    kube_apiserver: Path
    kubectl: Path
    etcd: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kube_proxy: Path
    coredns: Path
    kube_router: Path

    def all(self) -> dict[str, Path]:
        """Binary name -> path, in build order."""
        return {name: getattr(self, name.replace("-", "_")) for name in _TARGETS}


def targets() -> tuple[str, ...]:
    return tuple(_TARGETS)


def tools_module_packages(module: str) -> set[str]:
    """The Go packages a tools-only module lists in its `tool` directives."""
    text = (TOOLCHAIN / module / "go.mod").read_text()
    block = text.partition("\ntool (")[2].partition(")")[0]
    singles = [line.split()[1] for line in text.splitlines() if line.startswith("tool ") and "(" not in line]
    return {line.strip() for line in block.splitlines() if line.strip()} | set(singles)


def packages() -> dict[str, tuple[str, str]]:
    """Binary name -> (Go package, tools module)."""
    return {name: (package, module) for name, (package, module, _env) in _TARGETS.items()}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kdiag" / "lab" / f"{KUBERNETES_VERSION}-etcd{ETCD_VERSION}" / "bin"


def cached(name: str) -> Path:
    """Where the build of target `name` is cached."""
    return cache_dir() / _CACHE_NAMES.get(name, name)


def version_ldflags() -> str:
    """The -X flags Kubernetes' own build sets, so /version and `kubectl version` report the release."""
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={KUBERNETES_VERSION}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate=1970-01-01T00:00:00Z",
        ]
    return " ".join(flags)


def resolve(*, build: bool = True, emit: Callable[[str], None] = lambda _m: None) -> LabBinaries:
    """Find each binary (override, then cache); build the missing ones when `build` is true."""
    found: dict[str, Path] = {}
    missing = [
        name for name, (_p, _m, env_var) in _TARGETS.items()
        if not os.environ.get(env_var) and not cached(name).is_file()
    ]
    for name, (_package, _module, env_var) in _TARGETS.items():
        override = os.environ.get(env_var)
        if override:
            path = Path(override)
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise LabError(f"{env_var}={override} is not an executable file")
            found[name] = path
            continue
        cache = cached(name)
        if not cache.is_file():
            if not build:
                raise LabError(f"{name} is not built yet", hint="run `kdiag lab build` or `kdiag lab up`")
            with _build_lock():
                if not cache.is_file():  # another process may have built it while we waited
                    step = f"[{missing.index(name) + 1}/{len(missing)}]"
                    _build(name, cache, emit, step)
        found[name] = cache
    return LabBinaries(**{name.replace("-", "_"): path for name, path in found.items()})


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time per cache: two `lab up`s (or test runs) on a fresh machine would
    otherwise compile the same binary twice and race to rename it into place."""
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(name: str, output: Path, emit: Callable[[str], None], step: str) -> None:
    package, module, env_var = _TARGETS[name]
    go = shutil.which("go")
    if go is None:
        raise LabError(
            f"cannot build {name}: Go is not installed",
            hint=f"install Go >= 1.26, or set {env_var} to an existing {name} {KUBERNETES_VERSION} binary",
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".partial")
    emit(f"{step} building {name} from {package} (first time only; a few minutes) ...")
    started = time.monotonic()
    env = dict(os.environ, CGO_ENABLED="0")
    with tempfile.TemporaryFile(mode="w+") as errors:
        proc = subprocess.Popen(
            [go, "build", "-trimpath", "-ldflags", " ".join(filter(None, (version_ldflags(),
             _EXTRA_LDFLAGS.get(name)))), "-o", str(partial), package],
            cwd=TOOLCHAIN / module,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=errors,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            while True:
                try:
                    returncode = proc.wait(timeout=PROGRESS_EVERY)
                    break
                except subprocess.TimeoutExpired:
                    emit(f"{step} still building {name}: {time.monotonic() - started:.0f}s so far")
        except BaseException:
            proc.kill()  # Ctrl-C: no orphaned compiler keeps the machine busy
            proc.wait()
            partial.unlink(missing_ok=True)
            raise
        errors.seek(0)
        output_text = errors.read()
    if returncode != 0:
        partial.unlink(missing_ok=True)
        tail = " | ".join(output_text.strip().splitlines()[-3:])
        raise LabError(f"building {name} failed: {tail}")
    partial.replace(output)  # atomic: a half-written binary is never mistaken for a built one
    emit(f"{step} built {name} in {time.monotonic() - started:.0f}s -> {output}")
