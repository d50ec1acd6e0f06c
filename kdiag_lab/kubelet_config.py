"""The data plane's configuration, written once by `dataplane.start` and read by the kubelet daemon,
`dataplane.stop` and `dataplane.exec_in`: DIR/dataplane/config.json."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kdiag.defaults import PROBE_IMAGE
from kdiag_lab.paths import LabPaths
from kdiag_lab.topology import LabNetwork

# kdiag's default probe image, and the images the seed workloads and CNI daemonsets name.
DEFAULT_IMAGES = (
    PROBE_IMAGE,
    "gcr.io/google-samples/hello-app:1.0",
    "gcr.io/google-samples/hello-app:2.0",
    "docker.io/bitnami/mariadb:11.4.3-debian-12-r0",
    "docker.io/bitnami/wordpress:6.6.2-debian-12-r6",
    "nginx/nginx-ingress:3.7.0",
    "docker.io/flannel/flannel:v0.25.6",
    "docker.io/flannel/flannel-cni-plugin:v1.5.1-flannel2",
    "docker.io/calico/node:v3.28.1",
    "busybox:1.36",
    "python:3.12-slim",
)
# CoreDNS as kube-system/coredns names it; the lab runs the real binary as its entrypoint.
COREDNS_IMAGE = "registry.k8s.io/coredns/coredns:v1.14.7"
# Extra images the lab should treat as present: comma- or space-separated, read at `lab up`.
IMAGES_ENV = "KDIAG_LAB_IMAGES"


def lab_id_for(paths: LabPaths) -> str:
    """A short id derived from the lab directory, so two labs on one host never share namespaces."""
    return hashlib.sha1(str(paths.root.resolve()).encode()).hexdigest()[:8]


def normalize_image(ref: str) -> str:
    """`nginx` -> `docker.io/library/nginx:latest`, as a container runtime resolves names."""
    ref = ref.strip()
    name, digest = ([*ref.split("@", 1), ""])[:2]
    first, _, rest = name.partition("/")
    if not rest:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    if digest:
        return f"{name}@{digest}"
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


@dataclass
class DataplaneConfig:
    lab_id: str
    datapath: str
    workers: int
    images: list[str] = field(default_factory=lambda: list(DEFAULT_IMAGES))
    kubelet_port: int = 0
    proxy_mode: str = "nftables"
    # normalized image -> the real program the lab runs as that image's entrypoint
    entrypoints: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def path(paths: LabPaths) -> Path:
        return paths.dataplane / "config.json"

    def save(self, paths: LabPaths) -> None:
        paths.dataplane.mkdir(parents=True, exist_ok=True)
        self.path(paths).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, paths: LabPaths) -> DataplaneConfig:
        return cls(**json.loads(cls.path(paths).read_text()))

    def network(self) -> LabNetwork:
        return LabNetwork(self.lab_id, self.datapath, self.workers)

    def known_images(self) -> frozenset[str]:
        return frozenset(normalize_image(i) for i in self.images)


def images_from_env() -> list[str]:
    raw = os.environ.get(IMAGES_ENV, "")
    return [part for part in raw.replace(",", " ").split() if part]
