"""Where a lab keeps its files. One directory per lab; everything the lab creates lives under it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_lab_dir() -> Path:
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "kdiag" / "lab"


@dataclass(frozen=True)
class LabPaths:
    root: Path

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def state_file(self) -> Path:
        """JSON: pids, ports and what `up` created, so `down` removes exactly that."""
        return self.root / "state.json"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def ca_cert(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.pki / "ca.key"

    @property
    def kubelet_client_cert(self) -> Path:
        """Client certificate the apiserver presents to lab kubelets (pods/log, exec)."""
        return self.pki / "apiserver-kubelet-client.crt"

    @property
    def kubelet_client_key(self) -> Path:
        return self.pki / "apiserver-kubelet-client.key"

    @property
    def admin_token_file(self) -> Path:
        return self.root / "admin.token"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def dataplane(self) -> Path:
        """Owned by kdiag_lab.dataplane: network state, kubelet files, container logs."""
        return self.root / "dataplane"
