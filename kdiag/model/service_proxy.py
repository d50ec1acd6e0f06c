"""Who translates a ClusterIP into an endpoint, and how: kube-proxy (and its mode) or the CNI.

Pure rules over plain facts that `kdiag.cluster.services` reads from the API (ConfigMaps and
DaemonSets, with YAML already parsed into values). Where: always on the source node, on the
way out of the pod and before routing (iptables/nftables/IPVS hooks in the node's netns, an
eBPF program on the pod's interface or socket, an OVS/OVN pipeline on the pod's port), so a
translation fault is judged on the source node.

Facts and their upstream meaning:

- kube-proxy: DaemonSet (kube-system/kube-proxy, or any DaemonSet running a kube-proxy image);
  mode from ConfigMap kube-system/kube-proxy key `config.conf` (a KubeProxyConfiguration) field
  `mode`, or a `--proxy-mode` flag. An empty mode is the platform default, iptables on Linux
  (cmd/kube-proxy/app/server_linux.go platformApplyDefaults). Modes: iptables, nftables, ipvs.
- Cilium: ConfigMap cilium-config key `kube-proxy-replacement`: `true` (1.14+) or `strict`
  (older) = Cilium's eBPF does all Service translation, kube-proxy is not needed; `partial` /
  `probe` (older) = some of it; `false` or absent = kube-proxy does it (Cilium may still do
  socket LB when `bpf-lb-sock` is true).
- Antrea: ConfigMap antrea-config key `antrea-agent.conf`: `antreaProxy.enable` (default true
  since Antrea 1.x; before that the AntreaProxy feature gate) makes Antrea's OVS pipeline
  translate ClusterIP traffic *from pods*; `antreaProxy.proxyAll` (default false) extends it to
  node and hostNetwork traffic so kube-proxy can be removed.
- OVN-Kubernetes: ovnkube-node DaemonSet: Services are OVN load balancers on the node's logical
  switch; OVN-Kubernetes does not use kube-proxy.
"""

from __future__ import annotations

from dataclasses import dataclass

KUBE_PROXY_MODES = ("iptables", "nftables", "ipvs")
WHERE = "on the source node, before routing"


@dataclass(frozen=True)
class ProxyFacts:
    """What the API says about the Service datapath; None = that object was not found (or not
    readable, which the caller says in `unreadable`)."""

    kube_proxy_daemonset: str = ""  # "daemonset NS/NAME" when present
    kube_proxy_mode: str | None = None  # config.conf `mode` ("" = unset); None: no ConfigMap
    kube_proxy_mode_flag: str = ""  # --proxy-mode of the DaemonSet's container, if any
    kube_proxy_configmap: str = ""  # "configmap NS/NAME" when present
    cilium_kpr: str | None = None  # cilium-config kube-proxy-replacement; None: no cilium-config
    cilium_socket_lb: str | None = None  # cilium-config bpf-lb-sock
    cilium_daemonset: str = ""
    antrea_proxy_enabled: bool | None = None  # antreaProxy.enable / featureGates.AntreaProxy
    antrea_proxy_all: bool | None = None  # antreaProxy.proxyAll
    antrea_daemonset: str = ""
    ovn_daemonset: str = ""
    unreadable: tuple[str, ...] = ()  # what could not be read (RBAC), said in the notes


@dataclass(frozen=True)
class ServiceProxy:
    """The component that translates ClusterIP traffic from a pod on the source node."""

    implementation: str  # "kube-proxy" | "cilium" | "antrea" | "ovn-kubernetes" | "unknown"
    mode: str  # iptables | nftables | ipvs | ebpf | openflow | ovn-load-balancer | ""
    where: str = WHERE
    evidence: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        return f"{self.implementation} ({self.mode})" if self.mode else self.implementation


def kube_proxy_mode(configured: str | None, flag: str = "") -> str:
    """The mode kube-proxy runs: the flag wins when given (kdiag sees no merge of the two beyond
    that), else config.conf `mode`; empty means the Linux default, iptables."""
    mode = (flag or configured or "").strip().lower()
    return mode or "iptables"


def _cilium_replaces(kpr: str) -> str:
    """'full', 'partial' or '' (kube-proxy does it)."""
    value = kpr.strip().lower()
    if value in ("true", "strict"):
        return "full"
    if value in ("partial", "probe"):
        return "partial"
    return ""


def service_proxy(facts: ProxyFacts) -> ServiceProxy:
    """Decide who translates ClusterIP traffic sent by a pod, from the facts, most specific first:
    the CNI that intercepts the pod's traffic before the node's netfilter sees it wins over
    kube-proxy's rules, which then never match."""
    notes = [f"not read: {what}" for what in facts.unreadable]
    evidence: list[str] = []
    kp_mode = kube_proxy_mode(facts.kube_proxy_mode, facts.kube_proxy_mode_flag)
    kube_proxy_seen = bool(facts.kube_proxy_daemonset) or facts.kube_proxy_mode is not None
    if facts.kube_proxy_daemonset:
        evidence.append(f"{facts.kube_proxy_daemonset}")
    if facts.kube_proxy_mode is not None:
        shown = facts.kube_proxy_mode or '"" (default: iptables)'
        evidence.append(f"{facts.kube_proxy_configmap or 'configmap kube-system/kube-proxy'} "
                        f"config.conf mode={shown}")
    if facts.kube_proxy_mode_flag:
        evidence.append(f"--proxy-mode={facts.kube_proxy_mode_flag}")

    replaces = _cilium_replaces(facts.cilium_kpr or "") if facts.cilium_kpr is not None else ""
    if replaces == "full" or (facts.cilium_kpr is not None and not kube_proxy_seen):
        if facts.cilium_daemonset:
            evidence.append(facts.cilium_daemonset)
        evidence.append(f"configmap cilium-config kube-proxy-replacement={facts.cilium_kpr or '(unset)'}")
        if replaces != "full":
            notes.append("cilium without kube-proxy-replacement and no kube-proxy found: "
                         "ClusterIPs may not be translated at all")
        if kube_proxy_seen:
            notes.append("kube-proxy is present too; Cilium's eBPF translates first, so its rules see "
                         "no ClusterIP traffic from pods")
        return ServiceProxy("cilium", "ebpf", evidence=tuple(evidence), notes=tuple(notes))
    if replaces == "partial":
        notes.append(f"cilium kube-proxy-replacement={facts.cilium_kpr}: Cilium translates some "
                     "Service types, kube-proxy the rest")
    if facts.cilium_socket_lb and facts.cilium_socket_lb.lower() == "true":
        notes.append("cilium bpf-lb-sock=true: connect() to a ClusterIP is rewritten in the socket layer, "
                     "so packets leave the pod already addressed to the endpoint")

    antrea_on = facts.antrea_proxy_enabled if facts.antrea_proxy_enabled is not None else True
    if facts.antrea_daemonset and antrea_on:
        evidence.append(f"{facts.antrea_daemonset} antreaProxy.enable="
                        f"{'true' if facts.antrea_proxy_enabled else '(default true)'}"
                        f" proxyAll={'true' if facts.antrea_proxy_all else 'false'}")
        if not facts.antrea_proxy_all and kube_proxy_seen:
            notes.append(f"kube-proxy ({kp_mode}) still translates node and hostNetwork traffic "
                         "(antreaProxy.proxyAll is false)")
        elif not facts.antrea_proxy_all:
            notes.append("no kube-proxy and antreaProxy.proxyAll false: hostNetwork pods and nodes "
                         "cannot reach ClusterIPs")
        return ServiceProxy("antrea", "openflow", evidence=tuple(evidence), notes=tuple(notes))

    if facts.ovn_daemonset:
        evidence.append(f"{facts.ovn_daemonset}")
        if kube_proxy_seen:
            notes.append("kube-proxy is present too, but OVN load balancers handle pod traffic first")
        return ServiceProxy("ovn-kubernetes", "ovn-load-balancer", evidence=tuple(evidence),
                            notes=tuple(notes))

    if kube_proxy_seen:
        if kp_mode not in KUBE_PROXY_MODES:
            notes.append(f"kube-proxy mode {kp_mode!r} is not one kdiag models (iptables, nftables, ipvs)")
        if not facts.kube_proxy_daemonset:
            notes.append("no kube-proxy DaemonSet: kube-proxy runs as a static pod or a host process "
                         "(or not at all); the ConfigMap alone does not prove it runs")
        return ServiceProxy("kube-proxy", kp_mode, evidence=tuple(evidence), notes=tuple(notes))
    notes.append("no kube-proxy DaemonSet or ConfigMap and no CNI Service proxy found: "
                 "who translates ClusterIPs is unknown")
    return ServiceProxy("unknown", "", evidence=tuple(evidence), notes=tuple(notes))
