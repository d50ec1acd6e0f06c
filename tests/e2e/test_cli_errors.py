"""Errors a user can cause: one line on stderr, a documented exit code, no traceback (-v shows it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kdiag.exitcodes import ExitCode
from kdiag_lab.processes import free_port
from tests.conftest import CliResult, Lab, run_kdiag


def _variant(lab: Lab, tmp_path: Path, change: Any) -> str:
    """A copy of the lab kubeconfig with one thing broken by `change(config)`."""
    config = yaml.safe_load(lab.kubeconfig.read_text())
    change(config)
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _one_line_error(result: CliResult, code: ExitCode, *needles: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert result.stdout == ""


def test_no_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    _one_line_error(run_kdiag("pods"), ExitCode.USAGE, "no kubeconfig found")
    missing = run_kdiag("pods", "--kubeconfig", str(tmp_path / "nope"))
    _one_line_error(missing, ExitCode.USAGE, "does not exist")


def test_unknown_context(lab: Lab) -> None:
    _one_line_error(lab.kdiag("pods", context="nope"), ExitCode.USAGE, '"nope" not found', "kdiag-lab-viewer")


def test_api_unreachable_names_the_server(lab: Lab, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there

    def point_elsewhere(config: dict[str, Any]) -> None:
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"

    result = run_kdiag("pods", "--kubeconfig", _variant(lab, tmp_path, point_elsewhere))
    _one_line_error(result, ExitCode.CANNOT_PROBE, f"https://127.0.0.1:{port}", "cannot reach")


def test_tls_failure(lab: Lab, tmp_path: Path) -> None:
    from kdiag_lab import pki

    pki.make_ca(tmp_path / "other.crt", tmp_path / "other.key")

    def wrong_ca(config: dict[str, Any]) -> None:
        import base64

        cluster = config["clusters"][0]["cluster"]
        other_ca = (tmp_path / "other.crt").read_bytes()
        cluster["certificate-authority-data"] = base64.b64encode(other_ca).decode()

    result = run_kdiag("pods", "--kubeconfig", _variant(lab, tmp_path, wrong_ca))
    _one_line_error(result, ExitCode.CANNOT_PROBE, "TLS")


def test_unauthorized(lab: Lab, tmp_path: Path) -> None:
    def bad_token(config: dict[str, Any]) -> None:
        for user in config["users"]:
            user["user"]["token"] = "not-a-valid-token"

    result = run_kdiag("pods", "--kubeconfig", _variant(lab, tmp_path, bad_token))
    _one_line_error(result, ExitCode.CANNOT_PROBE, "401")


def test_forbidden_names_verb_and_resource(lab: Lab) -> None:
    # The built-in view role reads namespaced objects only: nodes are forbidden to the viewer.
    result = lab.kdiag("nodes", context="kdiag-lab-viewer")
    _one_line_error(result, ExitCode.CANNOT_PROBE, "403", "list nodes")


def test_namespace_not_found(lab: Lab) -> None:
    _one_line_error(lab.kdiag("pods", "-n", "no-such-ns"), ExitCode.USAGE, 'namespace "no-such-ns" not found')


def test_bad_selector(lab: Lab) -> None:
    _one_line_error(lab.kdiag("pods", "-l", "a b c"), ExitCode.USAGE, "invalid")


def test_bad_flag_and_request_timeout(lab: Lab) -> None:
    assert lab.kdiag("pods", "-o", "fancy").exit_code == ExitCode.USAGE
    _one_line_error(lab.kdiag("pods", "--request-timeout", "soon"), ExitCode.USAGE, "--request-timeout")


def test_verbose_shows_the_traceback(lab: Lab) -> None:
    result = lab.kdiag("-v", "pods", "-n", "no-such-ns")
    assert result.exit_code == ExitCode.USAGE and "Traceback" in result.stderr


@pytest.mark.parametrize("content", ["clusters: [unclosed\n", "just a string\n", "\x00\x01binary"])
def test_a_broken_kubeconfig_is_one_line(tmp_path: Path, content: str) -> None:
    broken = tmp_path / "broken"
    broken.write_text(content)
    _one_line_error(run_kdiag("pods", "--kubeconfig", str(broken)), ExitCode.USAGE, "kubeconfig")


def test_a_broken_file_in_the_kubeconfig_list_is_one_line(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken"
    broken.write_text("clusters: [unclosed\n")
    monkeypatch.setenv("KUBECONFIG", f"{lab.kubeconfig}:{broken}")
    _one_line_error(run_kdiag("pods"), ExitCode.USAGE, "kubeconfig")


def test_a_pod_reference_with_two_slashes_is_a_usage_error(lab: Lab) -> None:
    result = lab.kdiag("trace", "default/hello/app", "hello-app-2")
    _one_line_error(result, ExitCode.USAGE, "default/hello/app")


def test_a_missing_exec_credential_plugin_is_one_line(lab: Lab, tmp_path: Path) -> None:
    def exec_plugin(config: dict[str, Any]) -> None:
        plugin = {"apiVersion": "client.authentication.k8s.io/v1", "command": "/nonexistent/kubectl-login",
                  "interactiveMode": "Never"}
        config["users"][0]["user"] = {"exec": plugin}

    # A real process: the client library logs through the root logger to the real stderr.
    kubeconfig = _variant(lab, tmp_path, exec_plugin)
    result = subprocess.run([sys.executable, "-m", "kdiag", "pods", "--kubeconfig", kubeconfig],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == ExitCode.USAGE
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "credential plugin '/nonexistent/kubectl-login'" in result.stderr
