"""The API relay on real namespaces, without an apiserver: a loopback TCP server in the root namespace
answers connections made to the control-plane node's underlay address from nodes and pods."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from kdiag_lab.topology import CONTROL_PLANE_IP, DATAPATHS, LabNetwork
from tests.lab.topology_helpers import new_lab_id
from tests.prereq import require_root_netns

pytestmark = pytest.mark.netns

ASK = (
    "import socket, sys; s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5);"
    "s.sendall(b'ping'); s.shutdown(socket.SHUT_WR); print(s.recv(100).decode())"
)


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A loopback server in the root namespace that answers `pong <bytes received>` per connection."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                data = b""
                while chunk := conn.recv(100):  # to EOF: the relay must pass the half-close on
                    data += chunk
                conn.sendall(b"pong " + data)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


@pytest.mark.parametrize("datapath", DATAPATHS)
def test_relay_reaches_root_loopback_from_nodes_and_pods(datapath: str, echo_port: int) -> None:
    require_root_netns()
    net = LabNetwork(new_lab_id(), datapath, nodes=2)
    relay: subprocess.Popen[bytes] | None = None
    try:
        net.up()
        net.add_pod("worker24", "default/a", "10.244.1.6")
        net.add_pod("worker25", "default/c", "10.244.2.3")
        read_fd, write_fd = os.pipe()
        relay = subprocess.Popen(
            [sys.executable, "-m", "kdiag_lab.relay", "--netns", net.control_plane_ns,
             "--listen", f"{CONTROL_PLANE_IP}:{echo_port}", "--upstream", f"127.0.0.1:{echo_port}",
             "--ready-fd", str(write_fd)],
            pass_fds=(write_fd,),
        )
        os.close(write_fd)
        assert os.read(read_fd, 16) == b"ready\n"
        os.close(read_fd)
        sources = [net.node_ns("worker24"), net.node_ns("worker25"), *(p.netns for p in net.pods.values())]
        for ns in sources:
            result = net.run(ns, [sys.executable, "-c", ASK, CONTROL_PLANE_IP, str(echo_port)], check=False)
            assert result.stdout.strip() == "pong ping", (ns, result.stderr)
        # The root namespace got no listener: only the loopback server holds the port there.
        listeners = subprocess.run(
            ["ss", "-Htln", f"sport = :{echo_port}"], capture_output=True, text=True, check=True
        ).stdout
        assert CONTROL_PLANE_IP not in listeners and f"127.0.0.1:{echo_port}" in listeners
    finally:
        if relay is not None:
            relay.terminate()
            relay.wait(timeout=10)
        net.down()
    assert relay.returncode == 0  # SIGTERM is a clean stop
