"""Asking the API what the user may do (SelfSubjectAccessReview) before kdiag creates anything."""

from __future__ import annotations

from kdiag.cluster import paths
from kdiag.cluster.client import Cluster
from kdiag.errors import CannotProbeError, KdiagError

# What each probe mode needs: (verb, resource, subresource).
NEEDED = {
    "pod": (("create", "pods", ""), ("get", "pods", "log"), ("delete", "pods", "")),
    "ephemeral": (("patch", "pods", "ephemeralcontainers"), ("get", "pods", "log")),
    # --observe: node observer pods, stopped by lowering their activeDeadlineSeconds (a patch)
    "observer": (("create", "pods", ""), ("get", "pods", "log"), ("patch", "pods", ""),
                 ("delete", "pods", "")),
}


def _allowed(cluster: Cluster, *, namespace: str, verb: str, resource: str, subresource: str) -> bool | None:
    attributes = {"namespace": namespace, "verb": verb, "resource": resource}
    if subresource:
        attributes["subresource"] = subresource
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes}}
    try:
        review = cluster.request("POST", paths.ACCESS_REVIEWS, body=body,
                                 what="create selfsubjectaccessreviews")
    except KdiagError:
        return None  # cannot tell: let the real request speak
    return bool((review.get("status") or {}).get("allowed"))


def check_permissions(cluster: Cluster, *, namespace: str, mode: str) -> None:
    """Refuse early, naming the missing permission, when the user may not run a probe of `mode`
    ("pod" | "ephemeral") in `namespace`: nothing is left half-done."""
    for verb, resource, sub in NEEDED[mode]:
        if _allowed(cluster, namespace=namespace, verb=verb, resource=resource, subresource=sub) is False:
            name = f"{resource}/{sub}" if sub else resource
            raise CannotProbeError(
                f"missing permission: cannot {verb} {name} in namespace {namespace} (a probe needs it)",
                hint=f"kubectl auth can-i {verb} {name} -n {namespace}; ask for a Role granting it, "
                     "or use a context that has it")
