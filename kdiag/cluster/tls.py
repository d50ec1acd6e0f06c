"""The TLS context of a kubeconfig endpoint, built in memory: key material never touches the disk.

CA data goes to OpenSSL directly (`cadata`). A client certificate and key can only be loaded from
a path (`load_cert_chain`), so they are written to an anonymous memory file (memfd, no name in
any file system) and loaded through /proc/self/fd; the descriptor is closed straight after, and a
kill -9 leaves nothing behind because nothing was ever on disk.
"""

from __future__ import annotations

import os
import ssl

from kdiag.cluster.kubeconfig import Endpoint
from kdiag.errors import ConfigError


def context_for(endpoint: Endpoint) -> ssl.SSLContext:
    # With a CA in the kubeconfig, kubectl trusts that CA alone (and loading the system roots
    # would cost more than the request): the system roots only when the kubeconfig names none.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not endpoint.ca_data and not endpoint.insecure:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if endpoint.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif endpoint.ca_data:
        try:
            context.load_verify_locations(cadata=endpoint.ca_data.decode("ascii", "replace"))
        except ssl.SSLError as exc:
            raise ConfigError(
                f"the kubeconfig's certificate-authority is not a PEM certificate: {exc}") from exc
    if endpoint.client_cert and endpoint.client_key:
        load_client_chain(context, endpoint.client_cert, endpoint.client_key)
    return context


def load_client_chain(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """Certificate then key in one memfd (load_cert_chain reads the key from the same file)."""
    fd = os.memfd_create("kdiag-client-credentials", os.MFD_CLOEXEC)
    try:
        os.write(fd, cert.rstrip(b"\n") + b"\n" + key)
        try:
            context.load_cert_chain(f"/proc/self/fd/{fd}")
        except ssl.SSLError as exc:
            raise ConfigError(
                f"the kubeconfig's client certificate and key cannot be used: {exc.reason or exc}",
                hint="check client-certificate(-data) and client-key(-data)",
            ) from exc
    finally:
        os.close(fd)
