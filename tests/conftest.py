"""Suite-wide fixtures: one real lab for the whole session, and a namespace per test.

`KDIAG_TEST_LAB_DIR=/path` reuses a lab that is already up there (and leaves it running), which
keeps the edit-test loop short on a laptop; by default the session brings its own lab up in a
temporary directory and takes it down at the end.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kdiag.cli.env import Environment
from kdiag.cli.main import main
from kdiag_lab import binaries, lifecycle
from kdiag_lab.paths import LabPaths
from tests.prereq import require


def pytest_configure(config: pytest.Config) -> None:
    """Run as a shell runs a foreground job: with SIGHUP and SIGQUIT at their defaults. A suite
    started by `nohup` or as a background job of a script inherits them ignored, and kdiag keeps an
    ignored signal ignored on purpose (tests/unit/test_signals.py), so the signal tests would test
    the caller's shell instead of kdiag."""
    for sig in (signal.SIGHUP, signal.SIGQUIT, signal.SIGINT):
        if signal.getsignal(sig) is signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL if sig is not signal.SIGINT else signal.default_int_handler)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_kdiag(*args: str) -> CliResult:
    """Run kdiag in-process with captured streams (the same code path as the console script)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), Environment(stdout=out, stderr=err))
    return CliResult(code, out.getvalue(), err.getvalue())


@dataclass
class Lab:
    paths: LabPaths
    server: str
    kubectl_path: Path

    @property
    def kubeconfig(self) -> Path:
        return self.paths.kubeconfig

    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                context: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = [str(self.kubectl_path), f"--kubeconfig={self.kubeconfig}"]
        if context:
            argv.append(f"--context={context}")
        result = subprocess.run(argv + list(args), capture_output=True, text=True, input=input, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def kdiag(self, *args: str, context: str | None = None) -> CliResult:
        flags = [f"--kubeconfig={self.kubeconfig}"] + ([f"--context={context}"] if context else [])
        return run_kdiag(*args, *flags)

    def apply(self, manifest: dict[str, Any], namespace: str | None = None) -> None:
        extra = ["-n", namespace] if namespace else []
        self.kubectl("apply", *extra, "-f", "-", input=json.dumps(manifest))


def _lab_prerequisites() -> None:
    require(os.geteuid() == 0, "the lab needs root (network namespaces)")
    have_binaries = all(os.environ.get(var) for var in binaries.OVERRIDE_VARS) or all(
        binaries.cached(name).exists() for name in binaries.targets()
    )
    require(have_binaries or shutil.which("go") is not None, "the lab needs Go or prebuilt binaries")


def _dataplane_available() -> bool:
    try:
        from kdiag_lab import dataplane
    except ImportError:
        return False
    return hasattr(dataplane, "start") and os.environ.get("KDIAG_TEST_CONTROL_PLANE_ONLY") != "1"


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    _lab_prerequisites()
    reuse = os.environ.get("KDIAG_TEST_LAB_DIR")
    if reuse:
        paths = LabPaths(Path(reuse))
        state = lifecycle.LabState.load(paths)
        require(state is not None and bool(state.running()), f"no lab is up in {reuse}")
        assert state is not None
        yield Lab(paths, state.server, binaries.resolve(build=False).kubectl)
        return
    root = Path(tempfile.mkdtemp(prefix="kdiag-test-lab-"))
    paths = LabPaths(root / "lab")
    state = lifecycle.up(
        paths, datapath="bridge-vxlan", workers=2, emit=lambda m: print(m),
        dataplane=_dataplane_available(),
    )
    try:
        yield Lab(paths, state.server, binaries.resolve(build=False).kubectl)
    finally:
        lifecycle.down(paths, emit=lambda m: None)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def namespace(lab: Lab) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting for finalization)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    lab.kubectl("create", "namespace", name)
    # Pods need the default ServiceAccount, which the lab controllers create asynchronously.
    lab.kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=30s")
    yield name
    lab.kubectl("delete", "namespace", name, "--wait=false", check=False)
