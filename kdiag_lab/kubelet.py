"""The lab kubelet: one daemon for all lab nodes. `python3 -m kdiag_lab.kubelet --dir LAB_DIR`.

It registers the Nodes and keeps their Leases and status fresh (kubelet_heartbeat.py), lists and
then watches pods bound to them (by their creator or by kube-scheduler), and hands each pod to a
`PodWorker` (kubelet_pods.py) that builds its network
namespace, runs its containers and writes its status. It serves `kubectl logs` through
kubelet_server.py. Started and stopped by `kdiag_lab.dataplane`.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from kdiag_lab import netns
from kdiag_lab.api import Api, ApiError, config_from_lab
from kdiag_lab.kubelet_config import DataplaneConfig
from kdiag_lab.kubelet_events import EventRecorder
from kdiag_lab.kubelet_heartbeat import Heartbeat
from kdiag_lab.kubelet_node import IpAllocator, register_nodes
from kdiag_lab.kubelet_pods import Context, PodWorker
from kdiag_lab.kubelet_server import KubeletServer
from kdiag_lab.kubelet_status import ContainerRecord
from kdiag_lab.paths import LabPaths
from kdiag_lab.seed import SEED_IPS

log = logging.getLogger("kdiag_lab.kubelet")
Json = dict[str, Any]
PODS_PATH = "/api/v1/pods"
# Only bound pods; which node they are bound to is checked here (one watch for all lab nodes).
BOUND = {"fieldSelector": "spec.nodeName!="}


def serving_cert(paths: LabPaths) -> tuple[Path, Path]:
    return paths.dataplane / "kubelet.crt", paths.dataplane / "kubelet.key"


class Kubelet:
    def __init__(self, paths: LabPaths, config: DataplaneConfig) -> None:
        self.paths = paths
        self.config = config
        self.api = Api(config_from_lab(paths))
        self.net = config.network()
        self.node_names = {n.name for n in self.net.nodes}
        self.ctx = Context(
            api=self.api,
            net=self.net,
            config=config,
            pods_dir=paths.dataplane / "pods",
            allocator=IpAllocator(self.net, reserved=set(SEED_IPS)),
            events=EventRecorder(self.api),
            known_images=config.known_images(),
        )
        self.workers: dict[tuple[str, str], PodWorker] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    # -- pods -------------------------------------------------------------------------------
    def _mine(self, pod: Json) -> bool:
        return pod.get("spec", {}).get("nodeName") in self.node_names

    def handle(self, kind: str, pod: Json) -> None:
        if not self._mine(pod):
            return
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        with self.lock:
            worker = self.workers.get(key)
            if kind == "DELETED":
                if worker and worker.uid == meta["uid"]:
                    del self.workers[key]
                    worker.gone()
                return
            if worker and worker.uid != meta["uid"]:
                # Same name, new pod: the old one must release its namespace first.
                worker.gone()
                worker.thread.join(timeout=30)
                worker = None
            if worker is None:
                finished = pod.get("status", {}).get("phase") in ("Succeeded", "Failed")
                if finished and not meta.get("deletionTimestamp"):
                    return  # ran before a kubelet restart; never run a finished pod again
                worker = PodWorker(self.ctx, pod)
                self.workers[key] = worker
                worker.start()
            else:
                worker.update(pod)

    def lookup(self, namespace: str, pod: str, container: str) -> tuple[bool, ContainerRecord | None]:
        with self.lock:
            worker = self.workers.get((namespace, pod))
        if worker is None:
            return False, None
        return True, worker.record(container)

    def _cleanup_orphans(self, pods: list[Json]) -> None:
        """Pod namespaces left by a previous kubelet for pods that no longer exist."""
        wanted = {self.net.pod_ns(f"{p['metadata']['namespace']}/{p['metadata']['name']}") for p in pods}
        for name in netns.names(f"{self.net.prefix}pod-"):
            if name not in wanted:
                netns.delete(name)

    def _list_and_watch(self, on_listed: threading.Event) -> None:
        while not self.stopping.is_set():
            try:
                listing = self.api.get(PODS_PATH, **BOUND)
                pods = [p for p in listing.get("items", []) if self._mine(p)]
                if not on_listed.is_set():
                    self._cleanup_orphans(pods)
                listed = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods}
                with self.lock:
                    vanished = [w for k, w in self.workers.items() if k not in listed]
                for worker in vanished:
                    self.handle(
                        "DELETED",
                        {
                            "metadata": {
                                "namespace": worker.namespace,
                                "name": worker.name,
                                "uid": worker.uid,
                            },
                            "spec": {"nodeName": worker.node},
                        },
                    )
                for pod in pods:
                    self.handle("ADDED", pod)
                on_listed.set()
                version = listing["metadata"]["resourceVersion"]
                while not self.stopping.is_set():
                    for event in self.api.watch(PODS_PATH, version, fieldSelector=BOUND["fieldSelector"]):
                        obj = event["object"]
                        version = obj["metadata"].get("resourceVersion", version)
                        if event["type"] != "BOOKMARK":
                            self.handle(event["type"], obj)
            except ApiError as exc:
                if exc.status != 410:  # 410 Gone: our resourceVersion is too old, re-list
                    log.warning("pod watch: %s", exc)
                    self.stopping.wait(1)
            except (OSError, ValueError) as exc:
                log.warning("pod watch interrupted: %s; re-listing", exc)
                self.stopping.wait(1)

    # -- lifecycle --------------------------------------------------------------------------
    def run(self, ready_fd: int | None) -> int:
        cert, key = serving_cert(self.paths)
        server = KubeletServer(self.config.kubelet_port, cert, key, self.paths.ca_cert, self.lookup)
        server.serve_in_background()
        register_nodes(self.api, self.net, self.config.kubelet_port)
        Heartbeat(self.api, self.net, self.stopping).start()
        log.info(
            "registered nodes %s; kubelet API on 127.0.0.1:%d",
            sorted(self.node_names),
            self.config.kubelet_port,
        )
        listed = threading.Event()
        threading.Thread(target=self._list_and_watch, args=(listed,), daemon=True, name="pod-watch").start()
        while not listed.wait(0.5):
            if self.stopping.is_set():
                return 1
        if ready_fd is not None:
            os.write(ready_fd, b"ready\n")
            os.close(ready_fd)
        self.stopping.wait()
        log.info("stopping: killing containers")
        with self.lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.gone()
        for worker in workers:
            worker.thread.join(timeout=5)
        server.shutdown()
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kdiag_lab.kubelet")
    parser.add_argument("--dir", required=True, type=Path, help="lab directory")
    parser.add_argument("--ready-fd", type=int, default=None, help="write `ready` here once pods are listed")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(threadName)s %(message)s",
        stream=sys.stderr,
    )
    paths = LabPaths(args.dir)
    kubelet = Kubelet(paths, DataplaneConfig.load(paths))
    signal.signal(signal.SIGTERM, lambda *_: kubelet.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: kubelet.stopping.set())
    return kubelet.run(args.ready_fd)


if __name__ == "__main__":
    sys.exit(main())
