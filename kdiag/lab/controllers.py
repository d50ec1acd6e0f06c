"""The few kube-controller-manager duties kdiag and its tests rely on, as one small daemon.

Run as `python3 -m kdiag.lab.controllers --dir LAB_DIR` (started by `kdiag lab up`). It watches
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

from kdiag.lab.paths import LabPaths

log = logging.getLogger("kdiag.lab.controllers")
FORCE_DELETE_AFTER = 30.0


def _api(paths: LabPaths) -> Any:
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(config_file=str(paths.kubeconfig), context="kdiag-lab",
                            client_configuration=configuration, persist_config=False)
    return client.ApiClient(configuration)


class NamespaceController:
    def __init__(self, paths: LabPaths) -> None:
        from kubernetes import client

        self.api_client = _api(paths)
        self.core = client.CoreV1Api(self.api_client)
        self.ca = paths.ca_cert.read_text()
        self.finalizing: set[str] = set()

    def ensure_defaults(self, namespace: str) -> None:
        from kubernetes.client.exceptions import ApiException

        sa = {"metadata": {"name": "default"}}
        cm = {"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": self.ca}}
        for create in (
            lambda: self.core.create_namespaced_service_account(namespace, sa),
            lambda: self.core.create_namespaced_config_map(namespace, cm),
        ):
            try:
                create()
            except ApiException as exc:
                # 409: exists already; 403: the namespace is terminating.
                if exc.status not in (409, 403):
                    log.warning("namespace %s: %s", namespace, exc.reason)

    def finalize(self, namespace: str) -> None:
        if namespace in self.finalizing:
            return
        self.finalizing.add(namespace)
        threading.Thread(target=self._finalize, args=(namespace,), daemon=True).start()

    def _namespaced_collections(self) -> list[str]:
        """API paths of every namespaced resource type that supports deletecollection."""
        paths = []
        groups = self.api_client.call_api("/apis", "GET", response_type="object", auth_settings=["BearerToken"])[0]
        versions = ["/api/v1"] + [
            f"/apis/{g['preferredVersion']['groupVersion']}" for g in groups.get("groups", [])
        ]
        for version in versions:
            resources = self.api_client.call_api(
                version, "GET", response_type="object", auth_settings=["BearerToken"]
            )[0]
            for resource in resources.get("resources", []):
                verbs = resource.get("verbs", [])
                if resource.get("namespaced") and "/" not in resource["name"] and "deletecollection" in verbs:
                    paths.append(f"{version}/namespaces/{{ns}}/{resource['name']}")
        return paths

    def _finalize(self, namespace: str) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            for template in self._namespaced_collections():
                path = template.format(ns=namespace)
                if path.endswith("/pods"):
                    continue  # pods go through graceful deletion below
                try:
                    self.api_client.call_api(path, "DELETE", auth_settings=["BearerToken"])
                except ApiException as exc:
                    if exc.status not in (404, 405):
                        log.warning("deletecollection %s: %s", path, exc.reason)
            self._delete_pods(namespace)
            self.core.replace_namespace_finalize(
                namespace, {"metadata": {"name": namespace}, "spec": {"finalizers": []}}
            )
            log.info("namespace %s finalized", namespace)
        except ApiException as exc:
            if exc.status != 404:
                log.warning("finalizing %s failed: %s", namespace, exc.reason)
        finally:
            self.finalizing.discard(namespace)

    def _delete_pods(self, namespace: str) -> None:
        self.core.delete_collection_namespaced_pod(namespace)
        deadline = time.monotonic() + FORCE_DELETE_AFTER
        while self.core.list_namespaced_pod(namespace, limit=1).items:
            if time.monotonic() > deadline:
                # No kubelet finished these (their node is gone): do what node lifecycle would.
                self.core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
            time.sleep(0.2)

    def run(self) -> None:
        from kubernetes import watch

        while True:
            listing = self.core.list_namespace()
            for ns in listing.items:
                self.handle(ns)
            stream = watch.Watch().stream(
                self.core.list_namespace, resource_version=listing.metadata.resource_version,
                timeout_seconds=300,
            )
            try:
                for event in stream:
                    self.handle(event["object"])
            except Exception as exc:  # a dropped watch or expired resourceVersion: relist
                log.info("namespace watch restarted: %s", exc)

    def handle(self, ns: Any) -> None:
        name = ns.metadata.name
        if ns.metadata.deletion_timestamp is not None:
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
