"""Every kubeconfig form kdiag reads, against the lab's real apiserver, as kubectl reads them.

Each form runs the real command in its own process with TMPDIR pointed at an empty directory:
key material (client keys, CA data) must never reach a file, not even for a moment, so the
directory must still be empty afterwards. `KDIAG_TEST_BASE=/path/to/checkout` runs the same
commands against another checkout (how these tests were seen failing before the fix).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kdiag.exitcodes import ExitCode
from tests.conftest import Lab

CHECKOUT = Path(os.environ.get("KDIAG_TEST_BASE") or Path(__file__).resolve().parents[2])
Change = Callable[[dict[str, Any], Path], None]


def _client_certificate(lab: Lab, *, common_name: str, group: str) -> tuple[bytes, bytes]:
    """A client certificate signed by the lab CA, made here (PEM cert, PEM key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert = x509.load_pem_x509_certificate(lab.paths.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(lab.paths.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, group)])
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _token(lab: Lab) -> str:
    return lab.paths.admin_token_file.read_text().strip()


def _kubeconfig(lab: Lab, tmp_path: Path, change: Change) -> Path:
    config = yaml.safe_load(lab.kubeconfig.read_text())
    change(config, tmp_path)
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def _user(config: dict[str, Any]) -> dict[str, Any]:
    user: dict[str, Any] = config["users"][0]["user"]
    return user


Run = tuple[subprocess.CompletedProcess[str], list[str]]


def _run(*args: str, tmp_path: Path, env: dict[str, str] | None = None) -> Run:
    """kdiag in a fresh process with an empty TMPDIR; returns the result and what TMPDIR holds after."""
    temp = tmp_path / "tmpdir"
    temp.mkdir(exist_ok=True)
    environment = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": str(CHECKOUT), **(env or {})}
    result = subprocess.run([sys.executable, "-m", "kdiag", *args], capture_output=True, text=True,
                            env=environment, cwd=CHECKOUT, timeout=60)
    return result, sorted(str(p.relative_to(temp)) for p in temp.rglob("*"))


def _client_cert_data(lab: Lab) -> Change:
    cert, key = _client_certificate(lab, common_name="cert-admin", group="system:masters")

    def change(config: dict[str, Any], _tmp: Path) -> None:
        config["users"][0]["user"] = {"client-certificate-data": _b64(cert), "client-key-data": _b64(key)}
    return change


def _client_cert_files(lab: Lab) -> Change:
    cert, key = _client_certificate(lab, common_name="cert-admin", group="system:masters")

    def change(config: dict[str, Any], tmp: Path) -> None:
        (tmp / "client.crt").write_bytes(cert)
        (tmp / "client.key").write_bytes(key)
        (tmp / "ca.crt").write_bytes(lab.paths.ca_cert.read_bytes())
        config["users"][0]["user"] = {"client-certificate": "client.crt", "client-key": "client.key"}
        cluster = config["clusters"][0]["cluster"]
        del cluster["certificate-authority-data"]
        cluster["certificate-authority"] = "ca.crt"  # relative to the kubeconfig, as kubectl reads it
    return change


def _token_file(lab: Lab) -> Change:
    def change(config: dict[str, Any], tmp: Path) -> None:
        (tmp / "token").write_text(_token(lab) + "\n")
        config["users"][0]["user"] = {"tokenFile": str(tmp / "token")}
    return change


def _exec_plugin(lab: Lab) -> Change:
    def change(config: dict[str, Any], tmp: Path) -> None:
        plugin = tmp / "kubectl-login"
        credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                      "status": {"token": _token(lab)}}
        plugin.write_text(f"#!/bin/sh\necho '{json.dumps(credential)}'\n")
        plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
        config["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                               "command": str(plugin), "interactiveMode": "Never"}}
    return change


def _token_in_file(lab: Lab) -> Change:
    return lambda config, tmp: None  # the lab's own kubeconfig: token + certificate-authority-data


FORMS = {"token": _token_in_file, "client-certificate-data": _client_cert_data,
         "client-certificate-files": _client_cert_files, "tokenFile": _token_file,
         "exec-plugin": _exec_plugin}


@pytest.mark.parametrize("form", FORMS)
def test_every_form_authenticates_and_leaves_no_file_behind(lab: Lab, tmp_path: Path, form: str) -> None:
    kubeconfig = _kubeconfig(lab, tmp_path, FORMS[form](lab))
    result, left = _run("pods", "-n", "kube-flannel", "--kubeconfig", str(kubeconfig), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "kube-flannel-ds" in result.stdout
    assert left == [], f"{form}: files left in TMPDIR: {left}"


@pytest.mark.parametrize("form", ["client-certificate-data", "token"])
def test_no_key_or_ca_file_exists_even_while_running(lab: Lab, tmp_path: Path, form: str) -> None:
    """Killed with SIGKILL mid-request (nothing can clean up then): TMPDIR is still empty.
    The server is a loopback socket that accepts and never answers, so the request is in flight."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(30)
    port = listener.getsockname()[1]

    def hanging(config: dict[str, Any], tmp: Path) -> None:
        FORMS[form](lab)(config, tmp)
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"

    kubeconfig = _kubeconfig(lab, tmp_path, hanging)
    temp = tmp_path / "tmpdir"
    temp.mkdir()
    environment = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": str(CHECKOUT)}
    process = subprocess.Popen([sys.executable, "-m", "kdiag", "pods", "--kubeconfig", str(kubeconfig)],
                               env=environment, cwd=CHECKOUT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        connection, _ = listener.accept()  # the credentials are loaded by now: the TLS hello is next
        connection.recv(1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        listener.close()
    assert sorted(str(p.relative_to(temp)) for p in temp.rglob("*")) == []


def test_a_client_certificate_is_who_the_apiserver_sees(lab: Lab, tmp_path: Path) -> None:
    """The certificate really authenticates: a group without rights is refused with 403, not 401."""
    cert, key = _client_certificate(lab, common_name="cert-nobody", group="nobody")

    def change(config: dict[str, Any], _tmp: Path) -> None:
        config["users"][0]["user"] = {"client-certificate-data": _b64(cert), "client-key-data": _b64(key)}

    result, left = _run("pods", "--kubeconfig", str(_kubeconfig(lab, tmp_path, change)), tmp_path=tmp_path)
    assert result.returncode == ExitCode.CANNOT_PROBE and "403" in result.stderr, result.stderr
    assert left == []


def test_kubeconfig_list_skips_empty_entries_and_empty_files(lab: Lab, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    missing = tmp_path / "missing"
    for value in (f"{empty}:{lab.kubeconfig}", f":{lab.kubeconfig}:", f"{missing}:{lab.kubeconfig}"):
        result, _left = _run("pods", "-n", "kube-flannel", tmp_path=tmp_path, env={"KUBECONFIG": value})
        assert result.returncode == 0, (value, result.stderr)


def test_kubeconfig_directory_says_so(tmp_path: Path) -> None:
    result, _left = _run("pods", "--kubeconfig", str(tmp_path), tmp_path=tmp_path)
    assert result.returncode == ExitCode.USAGE
    assert "is a directory" in result.stderr and "does not exist" not in result.stderr


def test_no_ca_against_an_unknown_ca_says_unknown_authority(lab: Lab, tmp_path: Path) -> None:
    def no_ca(config: dict[str, Any], _tmp: Path) -> None:
        del config["clusters"][0]["cluster"]["certificate-authority-data"]

    result, _left = _run("pods", "--kubeconfig", str(_kubeconfig(lab, tmp_path, no_ca)), tmp_path=tmp_path)
    assert result.returncode == ExitCode.CANNOT_PROBE
    assert "x509: certificate signed by unknown authority" in result.stderr
    assert "does not match" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_http_to_an_https_server_is_plain_text(lab: Lab, tmp_path: Path) -> None:
    port = int(lab.server.rsplit(":", 1)[1])

    def plain_http(config: dict[str, Any], _tmp: Path) -> None:
        config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{port}"

    kubeconfig = _kubeconfig(lab, tmp_path, plain_http)
    result, _left = _run("pods", "--kubeconfig", str(kubeconfig), tmp_path=tmp_path)
    assert result.returncode == ExitCode.CANNOT_PROBE, result.stderr
    assert "Client sent an HTTP request to an HTTPS server." in result.stderr
    assert "b'" not in result.stderr and "\\n" not in result.stderr


@pytest.mark.parametrize(("server_name", "works"), [("localhost", True), ("wrong.example", False)])
def test_tls_server_name_is_the_name_checked(lab: Lab, tmp_path: Path, server_name: str, works: bool) -> None:
    def named(config: dict[str, Any], _tmp: Path) -> None:
        config["clusters"][0]["cluster"]["tls-server-name"] = server_name

    result, _left = _run("pods", "-n", "kube-flannel", "--kubeconfig", str(_kubeconfig(lab, tmp_path, named)),
                         tmp_path=tmp_path)
    if works:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == ExitCode.CANNOT_PROBE, result.stderr
        assert "x509: certificate is not valid" in result.stderr
