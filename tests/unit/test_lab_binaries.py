"""The lab's binary table against its tools-only Go modules, and the override rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdiag_lab import binaries
from kdiag_lab.errors import LabError


def test_every_kubernetes_binary_is_a_tool_of_the_kubernetes_module() -> None:
    # `go build` of a package the module does not require fails only at build time, minutes in.
    tools = binaries.tools_module_packages("kubernetes")
    wanted = {package for package, module in binaries.packages().values() if module == "kubernetes"}
    assert wanted <= tools
    assert {"kube-controller-manager", "kube-scheduler", "kube-proxy"} <= set(binaries.targets())


def _override_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, env_var in zip(binaries.targets(), binaries.OVERRIDE_VARS, strict=True):
        fake = tmp_path / name
        fake.write_text("#!/bin/sh\n")
        fake.chmod(0o755)
        monkeypatch.setenv(env_var, str(fake))


def test_an_override_that_is_not_an_executable_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _override_all(tmp_path, monkeypatch)
    (tmp_path / "kube-scheduler").chmod(0o644)
    with pytest.raises(LabError, match=r"KDIAG_KUBE_SCHEDULER=.* is not an executable file"):
        binaries.resolve(build=False)


def test_overrides_are_used_as_given_and_nothing_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _override_all(tmp_path, monkeypatch)
    found = binaries.resolve(build=False).all()
    assert found == {name: tmp_path / name for name in binaries.targets()}


def test_coredns_is_the_tool_of_its_own_module_pinned_to_the_version() -> None:
    assert binaries.packages()["coredns"] == ("github.com/coredns/coredns", "coredns")
    assert binaries.tools_module_packages("coredns") == {"github.com/coredns/coredns"}
    go_mod = (binaries.TOOLCHAIN / "coredns" / "go.mod").read_text()
    assert f"github.com/coredns/coredns {binaries.COREDNS_VERSION}" in go_mod
    # Its own release in the cached name: a CoreDNS bump rebuilds CoreDNS, not Kubernetes.
    assert binaries.cached("coredns").name == f"coredns-{binaries.COREDNS_VERSION}"


def test_kube_router_is_the_tool_of_its_own_module_pinned_to_the_version() -> None:
    package = f"{binaries.KUBE_ROUTER_PACKAGE}/cmd/kube-router"
    assert binaries.packages()["kube-router"] == (package, "kube-router")
    assert binaries.tools_module_packages("kube-router") == {package}
    go_mod = (binaries.TOOLCHAIN / "kube-router" / "go.mod").read_text()
    assert f"{binaries.KUBE_ROUTER_PACKAGE} {binaries.KUBE_ROUTER_VERSION}" in go_mod
    assert binaries.cached("kube-router").name == f"kube-router-{binaries.KUBE_ROUTER_VERSION}"
