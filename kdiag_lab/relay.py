"""The API relay: the apiserver reached at the control-plane node's underlay address, nothing new in root.

    python -m kdiag_lab.relay --netns kdl-<id>-controlplane --listen 10.250.0.2:PORT \\
        --upstream 127.0.0.1:PORT [--ready-fd N]

kube-apiserver listens on the root namespace's loopback; components inside lab namespaces
(kube-proxy, CoreDNS, the policy enforcer) need it at the cluster's advertise address. A socket
keeps the network namespace it was created in, so this process enters the control-plane
namespace, creates and binds its listening socket there, and goes back to the root namespace
before it connects anywhere: it accepts on 10.250.0.2 and dials 127.0.0.1, copying bytes both
ways (TLS passes through untouched; the apiserver sees the relay as its client address). No
address, route or listening port is added to the root namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from kdiag_lab.netns import NETNS_DIR

CLONE_NEWNET = 0x40000000
CHUNK = 64 * 1024
BACKLOG = 128


def _setns(fd: int) -> None:
    # os.setns arrived in Python 3.12; the lab supports 3.11, so libc's setns(2) directly.
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def entered(netns_name: str) -> Iterator[None]:
    """Run the body with this thread in the named network namespace, then return to the original."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(NETNS_DIR / netns_name, os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


def listen_in(netns_name: str, host: str, port: int) -> socket.socket:
    """A listening TCP socket that lives in `netns_name`, created from the current namespace."""
    with entered(netns_name):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(BACKLOG)
        except BaseException:
            sock.close()
            raise
    sock.setblocking(False)
    return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # half-close: the other direction may still be sending
    except (ConnectionError, OSError):
        writer.close()


async def _serve_one(
    client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, upstream: tuple[str, int]
) -> None:
    peer = client_writer.get_extra_info("peername")
    try:
        up_reader, up_writer = await asyncio.open_connection(*upstream)
    except OSError as exc:
        print(f"relay: {peer} -> {upstream[0]}:{upstream[1]}: {exc}", file=sys.stderr, flush=True)
        client_writer.close()
        return
    try:
        await asyncio.gather(_pipe(client_reader, up_writer), _pipe(up_reader, client_writer))
    finally:
        for writer in (up_writer, client_writer):
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


async def serve(listener: socket.socket, upstream: tuple[str, int], ready_fd: int | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_one(reader, writer, upstream)

    server = await asyncio.start_server(handle, sock=listener)
    host, port = listener.getsockname()
    print(f"relay: {host}:{port} -> {upstream[0]}:{upstream[1]}", file=sys.stderr, flush=True)
    if ready_fd is not None:
        os.write(ready_fd, b"ready\n")
        os.close(ready_fd)
    async with server:
        await stop.wait()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kdiag_lab.relay", description=__doc__.split("\n")[0])
    parser.add_argument("--netns", required=True, help="lab namespace to listen in")
    parser.add_argument("--listen", required=True, type=_address, help="HOST:PORT inside --netns")
    parser.add_argument("--upstream", required=True, type=_address, help="HOST:PORT in this namespace")
    parser.add_argument("--ready-fd", type=int, help="write `ready` here once listening")
    args = parser.parse_args(argv)
    if not (Path(NETNS_DIR) / args.netns).exists():
        print(f"relay: no network namespace {args.netns}", file=sys.stderr)
        return 1
    listener = listen_in(args.netns, *args.listen)
    asyncio.run(serve(listener, args.upstream, args.ready_fd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
