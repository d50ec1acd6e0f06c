"""Shell completion as a user meets it: the shipped bash script in a real bash, kubectl's plugin
completion executable, and an API server that never answers."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Lab

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # kdiag and kubectl_complete-kdiag, installed beside this python


def bash_complete(words: list[str], env: dict[str, str]) -> list[str]:
    """Run completions/kdiag.bash in bash with COMP_WORDS as bash splits the line (`=` is in
    COMP_WORDBREAKS, so `--namespace=kube-f` arrives as `--namespace`, `=`, `kube-f`)."""
    script = (f"source {shlex.quote(str(REPO / 'completions' / 'kdiag.bash'))}\n"
              f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
              f"COMP_CWORD={len(words) - 1}\n"
              "_kdiag_completion kdiag\n"
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    result = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **env})
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def test_namespace_with_equals_completes_in_real_bash(lab: Lab) -> None:
    env = {"KUBECONFIG": str(lab.kubeconfig)}
    assert bash_complete(["kdiag", "pods", "--namespace", "=", "kube-f"], env) == ["kube-flannel"]
    assert "kube-system" in bash_complete(["kdiag", "pods", "--namespace", "=", ""], env)
    assert bash_complete(["kdiag", "pods", "-n", "kube-f"], env) == ["kube-flannel"]
    assert bash_complete(["kdiag", "trace", "-n", "=", "kube-f"], env) == ["kube-flannel"]


@pytest.mark.parametrize(("words", "expected"), [
    (["kdiag", "trace", "a", "b", "--proto", ""], ["icmp", "tcp", "udp"]),
    (["kdiag", "trace", "a", "b", "--engine", ""], ["auto", "raw", "unprivileged"]),
    (["kdiag", "trace", "a", "b", "--mode", "e"], ["ephemeral"]),
    (["kdiag", "lab", "up", "--datapath", "bridge-"], ["bridge-vxlan", "bridge-hostgw"]),
    (["kdiag", "pods", "-o", "n"], ["net", "name"]),
    (["kdiag", "trace", "a", "b", "--proto", "=", "u"], ["udp"]),
])
def test_option_values_complete(words: list[str], expected: list[str], tmp_path: Path) -> None:
    assert bash_complete(words, {"KUBECONFIG": str(tmp_path / "none")}) == expected


def test_kubectl_plugin_completion(lab: Lab) -> None:
    """kubectl runs kubectl_complete-kdiag with the plugin's arguments, the last one being the word
    to complete, and reads cobra's format: candidates, then the directive line."""
    def complete(*args: str) -> list[str]:
        result = subprocess.run([str(BIN / "kubectl_complete-kdiag"), *args], capture_output=True, text=True,
                                timeout=60, env={**os.environ, "KUBECONFIG": str(lab.kubeconfig)})
        assert result.returncode == 0 and result.stderr == "", result.stderr
        return result.stdout.splitlines()

    assert complete("tr") == ["trace", ":4"]
    assert complete("pods", "-n", "kube-f") == ["kube-flannel", ":4"]
    assert complete("pods", "--namespace=kube-f") == ["--namespace=kube-flannel", ":4"]
    assert complete("trace", "hello-app-1") == ["hello-app-1-675b9f655c-8r76c", ":4"]


@pytest.fixture
def silent_api(lab: Lab, tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig whose server is a loopback socket that accepts and never answers."""
    import yaml

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    config = yaml.safe_load(lab.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{listener.getsockname()[1]}"
    path = tmp_path / "silent.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    yield path
    listener.close()


def test_completion_gives_up_quickly_on_a_silent_api(lab: Lab, silent_api: Path) -> None:
    """Against an API that never answers, completion offers nothing and costs at most about one
    request bound more than a normal completion (interpreter start-up on a loaded machine varies;
    benchmarks/startup_bench.py reports the absolute figure against the 2 s target)."""
    words = ["kdiag", "trace", "hello"]
    began = time.monotonic()
    assert bash_complete(words, {"KUBECONFIG": str(lab.kubeconfig)})
    normal = time.monotonic() - began
    began = time.monotonic()
    offered = bash_complete(words, {"KUBECONFIG": str(silent_api)})
    silent = time.monotonic() - began
    assert offered == []
    assert silent - normal < 1.0, f"{silent:.2f}s against a silent API, {normal:.2f}s normally"
