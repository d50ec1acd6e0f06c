"""The lab's real control-plane binaries: kube-apiserver, kubectl and etcd.

They are built once from the Go module proxy with the tools-only modules under
`kdiag_lab/toolchain/` and cached outside the clone, in `~/.cache/kdiag_lab/<version>/bin`.
`KDIAG_KUBE_APISERVER`, `KDIAG_ETCD` and `KDIAG_KUBECTL` point at existing binaries instead
(e.g. official release downloads).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kdiag_lab.errors import LabError

# Keep in step with kdiag_lab/toolchain/*/go.mod.
KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
TOOLCHAIN = Path(__file__).parent / "toolchain"

# (binary, Go package, tools module, environment override)
_TARGETS = {
    "kube-apiserver": ("k8s.io/kubernetes/cmd/kube-apiserver", "kubernetes", "KDIAG_KUBE_APISERVER"),
    "kubectl": ("k8s.io/kubernetes/cmd/kubectl", "kubernetes", "KDIAG_KUBECTL"),
    "etcd": ("go.etcd.io/etcd/server/v3", "etcd", "KDIAG_ETCD"),
}


@dataclass(frozen=True)
class LabBinaries:
    kube_apiserver: Path
    kubectl: Path
    etcd: Path


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kdiag" / "lab" / f"{KUBERNETES_VERSION}-etcd{ETCD_VERSION}" / "bin"


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
    for name, (_package, _module, env_var) in _TARGETS.items():
        override = os.environ.get(env_var)
        if override:
            path = Path(override)
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise LabError(f"{env_var}={override} is not an executable file")
            found[name] = path
            continue
        cached = cache_dir() / name
        if not cached.is_file():
            if not build:
                raise LabError(f"{name} is not built yet", hint="run `kdiag lab build` or `kdiag lab up`")
            with _build_lock():
                if not cached.is_file():  # another process may have built it while we waited
                    _build(name, cached, emit)
        found[name] = cached
    return LabBinaries(found["kube-apiserver"], found["kubectl"], found["etcd"])


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


def _build(name: str, output: Path, emit: Callable[[str], None]) -> None:
    package, module, env_var = _TARGETS[name]
    go = shutil.which("go")
    if go is None:
        raise LabError(
            f"cannot build {name}: Go is not installed",
            hint=f"install Go >= 1.26, or set {env_var} to an existing {name} {KUBERNETES_VERSION} binary",
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".partial")
    emit(f"building {name} from {package} (first time only; a few minutes) ...")
    started = time.monotonic()
    env = dict(os.environ, CGO_ENABLED="0")
    result = subprocess.run(
        [go, "build", "-trimpath", "-ldflags", version_ldflags(), "-o", str(partial), package],
        cwd=TOOLCHAIN / module,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise LabError(f"building {name} failed: {tail}")
    partial.replace(output)  # atomic: a half-written binary is never mistaken for a built one
    emit(f"built {name} in {time.monotonic() - started:.0f}s -> {output}")
