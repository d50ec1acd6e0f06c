"""The few kube-controller-manager duties kdiag and its tests rely on, as one small daemon.

Run as `python3 -m kdiag_lab.controllers --dir LAB_DIR` (started by `kdiag lab up`). It watches
namespaces and:

- creates the `default` ServiceAccount in every namespace (the ServiceAccount admission plugin
  rejects pods until it exists);
- publishes the `kube-root-ca.crt` ConfigMap (the lab CA) in every namespace;
- finalizes deleted namespaces: deletes their namespaced objects, waits for their pods to go
  (lab kubelets finish graceful deletion; pods on no live node are force-deleted after a grace
  period), then removes the `kubernetes` finalizer.

Everything else a real controller-manager does (ReplicaSets, Services, GC, node lifecycle ...)
is deliberately absent: the lab has no scheduler either, and kdiag does not need them.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from pathlib import Path
from typing import Any

from kdiag.errors import KdiagError
from kdiag_lab.api import Api, config_from_lab
from kdiag_lab.paths import LabPaths

log = logging.getLogger("kdiag_lab.controllers")
FORCE_DELETE_AFTER = 30.0


class NamespaceController:
    def __init__(self, paths: LabPaths) -> None:
        self.api = Api(config_from_lab(paths))
        self.ca = paths.ca_cert.read_text()
        self.finalizing: set[str] = set()

    def ensure_defaults(self, namespace: str) -> None:
        objects = (
            ("serviceaccounts", {"metadata": {"name": "default"}}),
            ("configmaps", {"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": self.ca}}),
        )
        for resource, body in objects:
            try:
                self.api.create(f"/api/v1/namespaces/{namespace}/{resource}", body)
            except KdiagError as exc:
                # Exists already (409), or the namespace is terminating (403): both fine.
                if exc.status not in (409, 403):
                    log.warning("namespace %s: %s", namespace, exc.message)

    def finalize(self, namespace: str) -> None:
        if namespace in self.finalizing:
            return
        self.finalizing.add(namespace)
        threading.Thread(target=self._finalize, args=(namespace,), daemon=True).start()

    def _namespaced_collections(self) -> list[str]:
        """API paths of every namespaced resource type that supports deletecollection."""
        paths = []
        groups = self.api.get("/apis")
        versions = ["/api/v1"] + [
            f"/apis/{g['preferredVersion']['groupVersion']}" for g in groups.get("groups", [])
        ]
        for version in versions:
            resources = self.api.get(version)
            for resource in resources.get("resources", []):
                verbs = resource.get("verbs", [])
                if resource.get("namespaced") and "/" not in resource["name"] and "deletecollection" in verbs:
                    paths.append(f"{version}/namespaces/{{ns}}/{resource['name']}")
        return paths

    def _finalize(self, namespace: str) -> None:
        try:
            for template in self._namespaced_collections():
                path = template.format(ns=namespace)
                if path.endswith("/pods"):
                    continue  # pods go through graceful deletion below
                try:
                    self.api.delete(path)
                except KdiagError as exc:
                    log.info("deletecollection %s: %s", path, exc.message)
            self._delete_pods(namespace)
            self.api.request("PUT", f"/api/v1/namespaces/{namespace}/finalize",
                             {"metadata": {"name": namespace}, "spec": {"finalizers": []}})
            log.info("namespace %s finalized", namespace)
        except KdiagError as exc:
            log.warning("finalizing %s: %s", namespace, exc.message)
        finally:
            self.finalizing.discard(namespace)

    def _delete_pods(self, namespace: str) -> None:
        pods = f"/api/v1/namespaces/{namespace}/pods"
        self.api.delete(pods)
        deadline = time.monotonic() + FORCE_DELETE_AFTER
        while self.api.get(pods, limit="1").get("items"):
            if time.monotonic() > deadline:
                # No kubelet finished these (their node is gone): do what node lifecycle would.
                self.api.request("DELETE", pods, query={"gracePeriodSeconds": "0"})
            time.sleep(0.2)

    def run(self) -> None:
        while True:
            listing = self.api.get("/api/v1/namespaces")
            for ns in listing.get("items", []):
                self.handle(ns)
            try:
                for event in self.api.watch("/api/v1/namespaces", listing["metadata"]["resourceVersion"]):
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        self.handle(event["object"])
            except KdiagError as exc:  # a dropped watch or expired resourceVersion: relist
                log.info("namespace watch restarted: %s", exc.message)

    def handle(self, ns: dict[str, Any]) -> None:
        name = ns["metadata"]["name"]
        if ns["metadata"].get("deletionTimestamp"):
            self.finalize(name)
        else:
            self.ensure_defaults(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    NamespaceController(LabPaths(Path(args.dir))).run()


if __name__ == "__main__":
    main()
