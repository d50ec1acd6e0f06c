"""Benchmark `kdiag trace` to a Service with 3 endpoints on the lab, command start to verdict.

    python3 benchmarks/service_trace_bench.py [--runs N] [--lab-dir DIR]

Uses the lab in --lab-dir (or $KDIAG_TEST_LAB_DIR) when one is up there, else brings a
bridge-vxlan lab up in a temporary directory and takes it down afterwards (needs root).

The Service (namespace kdiag-bench, no selector) has three endpoints, made by hand as the
EndpointSlice controller would for a named targetPort `http`: wordpress and the ingress pod on
worker25 (:80) and hello-app-2 on worker24 (:8080), so the trace from hello-app-1 (worker24)
resolves its DNS name, probes the ClusterIP and every endpoint, and traces the path to one. When
the lab runs no kube-proxy the Service is headless (nothing would translate a ClusterIP, and the
benchmark measures a healthy trace). Each run is the real command (`python3 -m kdiag trace SRC
svc/kdiag-bench/web -o json`, interpreter start-up included); `kubectl get service -o wide` is timed
in the same runs as the baseline for the ratio. Target: median wall < 2 s; exits 1 if missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.lab_session import on_lab  # noqa: E402
from kdiag_lab import binaries  # noqa: E402  (needs the repo root on sys.path)
from kdiag_lab.paths import LabPaths  # noqa: E402

SRC = "hello-app-1-675b9f655c-8r76c"
NAMESPACE, SERVICE = "kdiag-bench", "web"
TARGET_SECONDS = 2.0
# (address, node, pod) per slice port: the seed pods' containerPort named http
ENDPOINTS = {80: [("10.244.2.3", "worker25", "helm-wp-wordpress-57b6df6549-drbbk"),
                  ("10.244.2.4", "worker25", "k8s-ingress-nginx-ingress-68467f5768-mkm5m")],
             8080: [("10.244.1.7", "worker24", "hello-app-2-787d8656bb-dfl8c")]}


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    began = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    return time.monotonic() - began, proc


def manifests(headless: bool) -> list[dict[str, Any]]:
    spec: dict[str, Any] = {"ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    if headless:
        spec["clusterIP"] = "None"
    out: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVICE, "namespace": NAMESPACE},
         "spec": spec}]
    for port, endpoints in ENDPOINTS.items():
        out.append({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": f"{SERVICE}-{port}", "namespace": NAMESPACE,
                         "labels": {"kubernetes.io/service-name": SERVICE,
                                    "endpointslice.kubernetes.io/managed-by": "kdiag-bench"}},
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "nodeName": node, "conditions": {"ready": True},
                           "targetRef": {"kind": "Pod", "namespace": "default", "name": pod}}
                          for ip, node, pod in endpoints]})
    return out


def bench(paths: LabPaths, runs: int) -> int:
    kubectl = str(binaries.resolve(build=False).kubectl)
    kubeconfig = f"--kubeconfig={paths.kubeconfig}"
    has_proxy = subprocess.run([kubectl, kubeconfig, "get", "configmap", "-n", "kube-system", "kube-proxy"],
                               capture_output=True, check=False).returncode == 0
    subprocess.run([kubectl, kubeconfig, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait"],
                   capture_output=True, check=False, timeout=120)
    applied = subprocess.run([kubectl, kubeconfig, "apply", "-f", "-"], input=json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": manifests(headless=not has_proxy)}),
        capture_output=True, text=True, check=False)
    if applied.returncode != 0:
        raise SystemExit(f"kubectl apply failed: {applied.stderr.strip()}")
    trace_argv = [sys.executable, "-m", "kdiag", "trace", SRC, f"svc/{NAMESPACE}/{SERVICE}", "-o", "json",
                  kubeconfig]
    baseline_argv = [kubectl, kubeconfig, "get", "service", "-n", NAMESPACE, SERVICE, "-o", "wide"]
    try:
        timed(trace_argv)  # warm the page cache and the apiserver's watch cache; not counted
        rows: list[dict[str, Any]] = []
        for _ in range(runs):
            wall, proc = timed(trace_argv)
            if proc.returncode != 0:
                raise SystemExit(f"trace failed (exit {proc.returncode}): {proc.stderr.strip()} "
                                 f"{proc.stdout[-2000:]}")
            doc = json.loads(proc.stdout)
            probed = [e for e in doc["service"]["endpoints"] if e["probed"]]
            if len(probed) != 3:
                raise SystemExit(f"expected 3 endpoints probed, got {len(probed)}")
            base, base_proc = timed(baseline_argv)
            if base_proc.returncode != 0:
                raise SystemExit(f"kubectl failed: {base_proc.stderr.strip()}")
            rows.append({"wall": wall, "kubectl": base, **doc["probe"]["durations"]})
    finally:
        subprocess.run([kubectl, kubeconfig, "delete", "namespace", NAMESPACE, "--wait=false"],
                       capture_output=True, check=False)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    wall, base = median("wall"), median("kubectl")
    kind = "ClusterIP, kube-proxy in the lab" if has_proxy else "headless: the lab runs no kube-proxy"
    print(f"kdiag trace {SRC} svc/{NAMESPACE}/{SERVICE}  (3 endpoints on 2 nodes, {kind}; {runs} runs, "
          f"medians; lab {paths.root})")
    print(f"  command start -> verdict   {wall:6.3f} s   (wall, incl. interpreter start-up)")
    print(f"    in-process total         {median('total'):6.3f} s")
    print(f"      API work               {median('api'):6.3f} s   (resolve, Service/DNS reads, RBAC, CNI, "
          "create/delete)")
    print(f"      probe pod start        {median('podStart'):6.3f} s")
    print(f"      probing                {median('probe'):6.3f} s   (path probes + dns + targets)")
    print(f"  kubectl get service -o wide {base:5.3f} s   (baseline, same runs)")
    print(f"  ratio trace / kubectl      {wall / base:6.1f}x")
    walls = [r["wall"] for r in rows]
    print(f"  min/max wall               {min(walls):.3f} / {max(walls):.3f} s")
    ok = wall < TARGET_SECONDS
    print(f"  target < {TARGET_SECONDS:g} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--lab-dir", default=os.environ.get("KDIAG_TEST_LAB_DIR"))
    args = parser.parse_args()
    return on_lab(args.lab_dir, lambda paths: bench(paths, args.runs), prefix="kdiag-service-bench-")


if __name__ == "__main__":
    sys.exit(main())
