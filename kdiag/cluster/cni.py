"""Which CNI runs the cluster, and how it carries pod traffic: a pure function over raw API JSON.

The caller (kdiag.cluster) lists DaemonSets, ConfigMaps, Nodes and, when readable, Calico IPPools and
hands them over as plain dicts / NodeInfo. Nothing here does I/O or imports `kubernetes`, so every
detection rule is a unit test over hand-written objects shaped like a real cluster's.

Each CNI's section names the real objects and fields it reads. Where a CNI has both a DaemonSet and
per-node annotations, the annotations win: the agent writes them from the config it is *running*,
while a ConfigMap may have been edited without restarting the agent.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from kdiag.cluster import cni_objects as raw
from kdiag.model.datapath import Datapath, Evidence, Mode, Overlay, OverlayKind, Routing
from kdiag.model.objects import NodeInfo

# Encapsulation cost on an IPv4 underlay: outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 = 50;
# Geneve without options is the same; IPIP adds one IP header; WireGuard IPv4 20+8+32 = 60.
VXLAN_OVERHEAD, GENEVE_OVERHEAD, IPIP_OVERHEAD, WG_OVERHEAD, GRE_OVERHEAD = 50, 50, 20, 60, 38
LINK_LOCAL_GW = "169.254.1.1"  # Calico and AWS VPC CNI answer this gateway by proxy/static ARP

FLANNEL_ANN = "flannel.alpha.coreos.com/"
CALICO_ANN = "projectcalico.org/"
# Where Cilium writes each node's cilium_host address, the gateway of its pods (new key, then old).
CILIUM_HOST_ANNOTATIONS = ("network.cilium.io/ipv4-cilium-host", "io.cilium.network.ipv4-cilium-host")


# ---- flannel (also Canal, k3s/RKE2 embedded flannel) ---------------------------------------------
# DaemonSet kube-flannel/kube-flannel-ds (kube-system/kube-flannel-ds[-amd64] before v0.20; "canal"
# for Canal), image flannel/flannel or coreos/flannel. ConfigMap kube-flannel-cfg (canal-config) key
# net-conf.json: {"Network": ..., "Backend": {"Type": "vxlan"|"host-gw"|"wireguard"|"udp"|"ipip",
# "VNI": 1, "Port": 8472, "DirectRouting": false}}. flanneld annotates every node with
# flannel.alpha.coreos.com/backend-type, backend-data ({"VNI":1,"VtepMAC":...}) and public-ip; k3s runs
# flannel inside the k3s binary, so there the annotations are the only evidence. Pods hang off the
# bridge cni0 (the CNI conf is *named* cbr0 but the bridge plugin's device is cni0).


def _flannel(inp: raw.Inputs) -> Datapath | None:
    names = ("kube-flannel-ds", "kube-flannel-ds-amd64", "kube-flannel", "flannel", "canal")
    ds = raw.find_daemonset(inp, names, "flannel")
    ann = raw.node_annotation(inp, FLANNEL_ANN + "backend-type")
    if ds is None and ann is None:
        return None
    ev: list[Evidence] = []
    notes: list[str] = []
    backend: dict[str, Any] = {}
    if ds is not None:
        ev.append(Evidence(raw.ref("daemonset", ds), "flannel agent DaemonSet"))
    cm = raw.configmap(inp, "kube-flannel-cfg", "net-conf.json") or raw.configmap(
        inp, "canal-config", "net-conf.json"
    )
    if cm is not None:
        try:
            backend = dict(json.loads(cm[1]["net-conf.json"]).get("Backend") or {})
        except (ValueError, AttributeError):
            notes.append(f"{cm[0]} net-conf.json is not valid JSON")
        ev.append(Evidence(cm[0], f"net-conf.json Backend.Type={backend.get('Type', '?')}"))
    btype = str(backend.get("Type", "vxlan")).lower()
    if ann is not None:
        node, value = ann
        ev.append(Evidence(f"node {node.name}", f"annotation {FLANNEL_ANN}backend-type={value}"))
        if backend and value.lower() != btype:
            notes.append(f"ConfigMap says {btype} but flanneld runs {value}: restart pending?")
        btype = value.lower()
        if ds is None:
            notes.append("no flannel DaemonSet: embedded flannel (k3s/RKE2), seen only as node annotations")
    overlay, routing = Overlay(), Routing.OVERLAY
    if btype == "vxlan":
        vni = raw.to_int(backend.get("VNI"), 1) or 1
        data = raw.node_annotation(inp, FLANNEL_ANN + "backend-data")
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            vni = raw.to_int(json.loads(data[1] if data else "{}").get("VNI"), vni) or vni
        # Linux's VXLAN default port is 8472 (IANA's 4789 only if Port is set); device flannel.<VNI>.
        overlay = Overlay(OverlayKind.VXLAN, f"flannel.{vni}", raw.to_int(backend.get("Port"), 8472),
                          VXLAN_OVERHEAD, vni, cross_subnet_only=bool(backend.get("DirectRouting")))
    elif btype == "host-gw":
        routing = Routing.HOST_GW
    elif btype in ("wireguard", "wireguard-native"):
        overlay = Overlay(OverlayKind.WIREGUARD, "flannel-wg", raw.to_int(backend.get("ListenPort"), 51820),
                          WG_OVERHEAD)
    elif btype == "udp":
        overlay = Overlay(OverlayKind.UDP, "flannel0", raw.to_int(backend.get("Port"), 8285), 28)
    elif btype == "ipip":
        overlay = Overlay(OverlayKind.IPIP, "flannel.ipip", None, IPIP_OVERHEAD)
    else:
        notes.append(f"flannel backend {btype!r} is not modelled; assuming a routed path")
        routing = Routing.NATIVE
    return Datapath("flannel", Mode.BRIDGE, routing, overlay, bridge="cni0",
                    generic=routing is Routing.NATIVE, tunnel_at_network_address=overlay.kind in (
                        OverlayKind.VXLAN, OverlayKind.UDP), evidence=tuple(ev), notes=tuple(notes))


# ---- Calico -----------------------------------------------------------------------------------------
# DaemonSet kube-system/calico-node (calico.yaml) or calico-system/calico-node (tigera-operator),
# container calico-node. The IPPool (crd.projectcalico.org/v1 or projectcalico.org/v3 IPPool,
# spec.ipipMode / spec.vxlanMode: Always|CrossSubnet|Never, spec.disabled) is authoritative; the
# DaemonSet's CALICO_IPV4POOL_IPIP / CALICO_IPV4POOL_VXLAN only seed the first pool. Node annotations
# projectcalico.org/IPv4IPIPTunnelAddr / IPv4VXLANTunnelAddr / IPv4WireguardInterfaceAddr show which
# tunnels calico-node actually set up; projectcalico.org/IPv4Address ("10.250.0.24/24") is the node's
# underlay address with its subnet, used to decide CrossSubnet. Pods: a /32 route per cali* veth,
# default gateway 169.254.1.1 answered by proxy ARP: point-to-point.


def _calico_mode(v: str) -> str:
    v = v.strip().lower()
    return {"always": "Always", "crosssubnet": "CrossSubnet", "cross-subnet": "CrossSubnet"}.get(v, "Never")


def _calico(inp: raw.Inputs) -> Datapath | None:
    ds = raw.find_daemonset(inp, ("calico-node",), "calico/node")
    addr = raw.node_annotation(inp, CALICO_ANN + "IPv4Address")
    if ds is None and addr is None:
        return None
    ev: list[Evidence] = []
    notes: list[str] = []
    ipip = vxlan = "Never"
    env = raw.env_values(inp, ds) if ds is not None else {}
    if ds is not None:
        ev.append(Evidence(raw.ref("daemonset", ds), "calico-node agent DaemonSet"))
    pools = [p for p in (inp.ippools or []) if not (p.get("spec") or {}).get("disabled")
             and ":" not in str((p.get("spec") or {}).get("cidr", ""))]
    if pools:
        spec = pools[0].get("spec") or {}
        ipip, vxlan = (_calico_mode(str(spec.get(k, ""))) for k in ("ipipMode", "vxlanMode"))
        ev.append(Evidence(raw.ref("ippool", pools[0]),
                           f"cidr={spec.get('cidr')} ipipMode={ipip} vxlanMode={vxlan}"))
        if len(pools) > 1:
            notes.append(f"{len(pools)} IPv4 IPPools; modelled from {raw.meta(pools[0])[1]}")
    else:
        if inp.ippools is None:
            notes.append("IPPools not readable; using node annotations and calico-node env")
        ev += [Evidence(raw.ref("daemonset", ds), f"env {k}={env[k]}") for k in env if ds is not None
               and k in ("CALICO_IPV4POOL_IPIP", "CALICO_IPV4POOL_VXLAN", "CALICO_NETWORKING_BACKEND")]
        # calico.yaml's default pool is IPIP Always; operator installs carry no env, the annotations decide.
        seeded = "CALICO_IPV4POOL_IPIP" in env or "CALICO_IPV4POOL_VXLAN" in env
        ipip = _calico_mode(env.get("CALICO_IPV4POOL_IPIP", "Never" if addr or not ds else "Always"))
        vxlan = _calico_mode(env.get("CALICO_IPV4POOL_VXLAN", "Never"))
        for key in ("IPv4IPIPTunnelAddr", "IPv4VXLANTunnelAddr"):
            hit = raw.node_annotation(inp, CALICO_ANN + key)
            if hit is not None:
                ev.append(Evidence(f"node {hit[0].name}", f"annotation {CALICO_ANN}{key}={hit[1]}"))
                if not seeded and key == "IPv4IPIPTunnelAddr":
                    ipip = "Always"
                elif not seeded:
                    vxlan = "Always"
    if addr is not None:
        ev.append(Evidence(f"node {addr[0].name}", f"annotation {CALICO_ANN}IPv4Address={addr[1]}"))
    overlay, routing = Overlay(), Routing.BGP
    if vxlan != "Never":
        overlay = Overlay(OverlayKind.VXLAN, "vxlan.calico", raw.to_int(env.get("FELIX_VXLANPORT"), 4789),
                          VXLAN_OVERHEAD, 4096, cross_subnet_only=vxlan == "CrossSubnet")
    elif ipip != "Never":
        overlay = Overlay(OverlayKind.IPIP, "tunl0", None, IPIP_OVERHEAD,
                          cross_subnet_only=ipip == "CrossSubnet")
    wg = raw.node_annotation(inp, CALICO_ANN + "IPv4WireguardInterfaceAddr")
    if wg is not None:
        # Felix routes cross-node pod traffic through wireguard.cali instead of the IPIP/VXLAN tunnel.
        ev.append(Evidence(
            f"node {wg[0].name}", f"annotation {CALICO_ANN}IPv4WireguardInterfaceAddr={wg[1]}"))
        overlay = Overlay(OverlayKind.WIREGUARD, "wireguard.cali", 51820, WG_OVERHEAD)
    if overlay.enabled:
        routing = Routing.OVERLAY
    if env.get("CALICO_NETWORKING_BACKEND", "").lower() == "none":
        notes.append("CALICO_NETWORKING_BACKEND=none: Calico provides policy only")
    calico_config = (raw.configmap(inp, "calico-config") or ("", {}))[1]
    return Datapath("calico", Mode.PTP, routing, overlay, gateway=LINK_LOCAL_GW,
                    pod_mtu=raw.to_int(calico_config.get("veth_mtu")) or None,
                    tunnel_annotations=(f"{CALICO_ANN}IPv4VXLANTunnelAddr",
                                        f"{CALICO_ANN}IPv4IPIPTunnelAddr"),
                    evidence=tuple(ev), notes=tuple(notes))


# ---- Cilium -----------------------------------------------------------------------------------------
# DaemonSet kube-system/cilium, image quay.io/cilium/cilium. ConfigMap cilium-config: routing-mode
# (tunnel|native, v1.14+), tunnel-protocol (vxlan|geneve), legacy tunnel (vxlan|geneve|disabled),
# tunnel-port, enable-wireguard, mtu. Default is VXLAN on UDP 8472 via cilium_vxlan (Geneve 6081 via
# cilium_geneve). WireGuard uses cilium_wg0 on UDP 51871. Pods are lxc* veths routed by eBPF with
# cilium_host as gateway: point-to-point. eBPF forwarding may not decrement TTL where the kernel
# would, and hops may not answer traceroute, so TTL is not held against it (generic=True).


def _cilium(inp: raw.Inputs) -> Datapath | None:
    ds = raw.find_daemonset(inp, ("cilium",), "cilium/cilium")
    cm = raw.configmap(inp, "cilium-config")
    if ds is None and cm is None:
        return None
    ev = [Evidence(raw.ref("daemonset", ds), "cilium agent DaemonSet")] if ds is not None else []
    data = cm[1] if cm else {}
    mode = data.get("routing-mode", "")
    proto = data.get("tunnel-protocol", "") or data.get("tunnel", "")
    if cm is not None:
        shown = {k: data[k] for k in ("routing-mode", "tunnel-protocol", "tunnel", "enable-wireguard")
                 if k in data}
        ev.append(Evidence(cm[0], " ".join(f"{k}={v}" for k, v in shown.items()) or "defaults"))
    native = mode == "native" or (not mode and proto == "disabled")
    overlay, routing = Overlay(), Routing.NATIVE
    if not native:
        routing = Routing.OVERLAY
        if proto == "geneve":
            overlay = Overlay(OverlayKind.GENEVE, "cilium_geneve", raw.to_int(data.get("tunnel-port"), 6081),
                              GENEVE_OVERHEAD)
        else:
            overlay = Overlay(OverlayKind.VXLAN, "cilium_vxlan", raw.to_int(data.get("tunnel-port"), 8472),
                              VXLAN_OVERHEAD)
    if data.get("enable-wireguard", "").lower() == "true":
        overlay, routing = Overlay(OverlayKind.WIREGUARD, "cilium_wg0", 51871, WG_OVERHEAD), Routing.OVERLAY
    return Datapath("cilium", Mode.PTP, routing, overlay, pod_mtu=raw.to_int(data.get("mtu")) or None,
                    generic=True, gateway_annotations=CILIUM_HOST_ANNOTATIONS, evidence=tuple(ev),
                    notes=("eBPF datapath: TTL and traceroute hops may differ from the kernel model",))


# ---- Antrea -----------------------------------------------------------------------------------------
# DaemonSet kube-system/antrea-agent; ConfigMap antrea-config (antrea-config-<hash> before v1.x) key
# antrea-agent.conf, a YAML file mostly commented out: tunnelType (geneve default | vxlan | gre | stt),
# trafficEncapMode (encap default | noEncap | hybrid | networkPolicyOnly), tunnelPort, defaultMTU.
# Pods are OVS ports on br-int (same-node traffic is switched at L2); antrea-gw0 is the node's gateway
# (podCIDR .1) and antrea-tun0 the tunnel port.

_ANTREA_TUNNELS = {
    "geneve": (OverlayKind.GENEVE, 6081, GENEVE_OVERHEAD), "vxlan": (OverlayKind.VXLAN, 4789, VXLAN_OVERHEAD),
    "gre": (OverlayKind.GRE, None, GRE_OVERHEAD), "stt": (OverlayKind.STT, 7471, 50),
}


def _yaml_scalar(text: str, key: str) -> str:
    """Top-level `key: value` of an uncommented line (avoids parsing a whole, mostly-comment file)."""
    m = re.search(rf"^\s*{re.escape(key)}:\s*['\"]?([\w.-]+)", text, re.MULTILINE)
    return m.group(1) if m else ""


def _antrea(inp: raw.Inputs) -> Datapath | None:
    ds = raw.find_daemonset(inp, ("antrea-agent",), "antrea/antrea")
    cm = raw.configmap(inp, "antrea-config", "antrea-agent.conf")
    if ds is None and cm is None:
        return None
    ev = [Evidence(raw.ref("daemonset", ds), "antrea-agent DaemonSet")] if ds is not None else []
    conf = cm[1]["antrea-agent.conf"] if cm else ""
    tunnel = _yaml_scalar(conf, "tunnelType").lower() or "geneve"
    encap = _yaml_scalar(conf, "trafficEncapMode") or "encap"
    if cm is not None:
        ev.append(Evidence(cm[0], f"antrea-agent.conf tunnelType={tunnel} trafficEncapMode={encap}"))
    kind, port, over = _ANTREA_TUNNELS.get(tunnel, _ANTREA_TUNNELS["geneve"])
    port = raw.to_int(_yaml_scalar(conf, "tunnelPort"), port) if port else None
    overlay, routing = Overlay(kind, "antrea-tun0", port, over), Routing.OVERLAY
    if encap.lower() in ("noencap", "networkpolicyonly"):
        overlay, routing = Overlay(), Routing.NATIVE
    elif encap.lower() == "hybrid":
        overlay = Overlay(kind, "antrea-tun0", port, over, cross_subnet_only=True)
    return Datapath("antrea", Mode.BRIDGE, routing, overlay, bridge="br-int", generic=True,
                    pod_mtu=raw.to_int(_yaml_scalar(conf, "defaultMTU")) or None, evidence=tuple(ev),
                    notes=("OVS pipeline: cross-node TTL handling differs from the kernel model",))


# ---- the rest: one DaemonSet each ------------------------------------------------------------------


# ovnkube-node writes these on every node it manages (`node-subnets`: the node's podCIDR per network;
# `node-chassis-id`: its OVS chassis), so they identify OVN-Kubernetes where the DaemonSet is not
# readable or not recognisable (OpenShift's images carry no project name).
OVN_NODE_ANNOTATIONS = (
    "k8s.ovn.org/node-subnets", "k8s.ovn.org/node-chassis-id", "k8s.ovn.org/l3-gateway-config",
)


def _ovn(inp: raw.Inputs) -> Datapath | None:
    # DaemonSet ovnkube-node in ovn-kubernetes (upstream) or openshift-ovn-kubernetes. Geneve between
    # nodes on UDP 6081 via the OVS tunnel port genev_sys_6081; pods sit on the node's logical switch
    # (L2), the ovn_cluster_router owns podCIDR .1. OVN recommends 100 bytes of headroom (MTU 1400).
    ds = raw.find_daemonset(inp, ("ovnkube-node",), "ovn-kubernetes")
    ev = [Evidence(raw.ref("daemonset", ds), "ovnkube-node DaemonSet")] if ds is not None else []
    annotated = next((hit for key in OVN_NODE_ANNOTATIONS if (hit := raw.node_annotation(inp, key))), None)
    if annotated is not None:
        key = next(k for k in OVN_NODE_ANNOTATIONS if k in annotated[0].annotations)
        ev.append(Evidence(f"node {annotated[0].name}", f"annotation {key}={annotated[1]}"))
    if not ev:
        return None
    return Datapath("ovn-kubernetes", Mode.BRIDGE, Routing.OVERLAY,
                    Overlay(OverlayKind.GENEVE, "genev_sys_6081", 6081, 100), bridge="br-int", generic=True,
                    evidence=tuple(ev),
                    notes=("OVN logical routers: TTL handling differs from the kernel model",))


def _weave(inp: raw.Inputs) -> Datapath | None:
    # DaemonSet kube-system/weave-net, container weave (weaveworks/weave-kube); env WEAVE_MTU (default
    # 1376), WEAVE_NO_FASTDP. Weave is one L2 network across nodes: bridge "weave" on each node, frames
    # carried by the fast datapath (kernel VXLAN vxlan-6784, UDP 6784) or sleeve (UDP 6783).
    ds = raw.find_daemonset(inp, ("weave-net",), "weave-kube")
    if ds is None:
        return None
    env = raw.env_values(inp, ds)
    sleeve = env.get("WEAVE_NO_FASTDP", "").lower() in ("1", "true", "yes")
    overlay = (Overlay(OverlayKind.UDP, "weave", 6783, 50) if sleeve
               else Overlay(OverlayKind.VXLAN, "vxlan-6784", 6784, VXLAN_OVERHEAD))
    return Datapath("weave", Mode.BRIDGE, Routing.L2, overlay, bridge="weave", bridge_addressed=False,
                    pod_mtu=raw.to_int(env.get("WEAVE_MTU"), 1376),
                    evidence=(Evidence(raw.ref("daemonset", ds), "weave-net DaemonSet"
                                       + (" WEAVE_NO_FASTDP (sleeve)" if sleeve else "")),))


def _kube_router(inp: raw.Inputs) -> Datapath | None:
    # DaemonSet kube-system/kube-router, flags --run-router, --enable-overlay (default true),
    # --overlay-type subnet (default: tunnel only to nodes in other subnets) | full, --overlay-encap
    # ipip (default) | fou. Pods on bridge kube-bridge; routes exchanged over BGP; tunnels tun-<hash>.
    ds = raw.find_daemonset(inp, ("kube-router",), "kube-router")
    if ds is None:
        return None
    args = raw.flags(ds)
    ev = [Evidence(raw.ref("daemonset", ds), "kube-router DaemonSet " + " ".join(
        f"--{k}={args[k]}" for k in ("run-router", "enable-overlay", "overlay-type") if k in args))]
    overlay, routing = Overlay(), Routing.BGP
    if args.get("enable-overlay", "true").lower() == "true":
        overlay = Overlay(OverlayKind.IPIP, "tun-*", None, IPIP_OVERHEAD,
                          cross_subnet_only=args.get("overlay-type", "subnet") != "full")
        routing = Routing.OVERLAY if args.get("overlay-type") == "full" else Routing.BGP
    return Datapath("kube-router", Mode.BRIDGE, routing, overlay, bridge="kube-bridge", evidence=tuple(ev))


def _aws(inp: raw.Inputs) -> Datapath | None:
    # DaemonSet kube-system/aws-node (amazon-k8s-cni image); env AWS_VPC_ENI_MTU (default 9001).
    # Pod IPs are ENI secondary IPs: no overlay, the VPC delivers them; 169.254.1.1 static ARP gateway.
    ds = raw.find_daemonset(inp, ("aws-node",), "amazon-k8s-cni")
    if ds is None:
        return None
    env = raw.env_values(inp, ds)
    return Datapath("aws-vpc-cni", Mode.PTP, Routing.VPC, gateway=LINK_LOCAL_GW,
                    pod_mtu=raw.to_int(env.get("POD_MTU") or env.get("AWS_VPC_ENI_MTU"), 9001),
                    evidence=(Evidence(raw.ref("daemonset", ds), "aws-node DaemonSet"),))


def _kindnet(inp: raw.Inputs) -> Datapath | None:
    # DaemonSet kube-system/kindnet (kind), image kindest/kindnetd. CNI "ptp" plugin: the node-side veth
    # holds the podCIDR's .1 as gateway; kindnetd adds a route per peer podCIDR via the peer node IP.
    ds = raw.find_daemonset(inp, ("kindnet",), "kindnetd")
    if ds is None:
        return None
    return Datapath("kindnet", Mode.PTP, Routing.HOST_GW,
                    evidence=(Evidence(raw.ref("daemonset", ds), "kindnet DaemonSet (ptp, host routes)"),))


# Most specific first. Canal (flannel networking + Calico policy) matches flannel before calico; an EKS
# cluster running calico-node for policy next to aws-node is AWS VPC CNI, handled in detect().
_DETECTORS: tuple[Callable[[raw.Inputs], Datapath | None], ...] = (
    _cilium, _antrea, _ovn, _weave, _kube_router, _kindnet, _flannel, _calico, _aws,
)


def detect(daemonsets: list[dict[str, Any]], configmaps: list[dict[str, Any]], nodes: list[NodeInfo],
           ippools: list[dict[str, Any]] | None) -> Datapath:
    """The cluster's datapath with its evidence; cni "unknown" with the generic model if nothing fits."""
    inp = raw.Inputs(list(daemonsets), list(configmaps), list(nodes), ippools)
    found = [dp for dp in (d(inp) for d in _DETECTORS) if dp is not None]
    aws = next((dp for dp in found if dp.cni == "aws-vpc-cni"), None)
    if aws is not None and any(dp.cni == "calico" for dp in found):
        found = [aws]  # calico-node beside aws-node is policy-only (EKS)
    if found:
        chosen, others = found[0], found[1:]
        seen = f"also seen: {', '.join(o.cni for o in others)}; {chosen.cni} taken as the pod network"
        return replace(chosen, notes=(*chosen.notes, seen)) if others else chosen
    looked = (f"{len(inp.daemonsets)} DaemonSets, {len(inp.configmaps)} ConfigMaps, "
              f"annotations of {len(inp.nodes)} nodes" + ("" if ippools is None else ", Calico IPPools"))
    return Datapath("unknown", Mode.BRIDGE, Routing.NATIVE, generic=True, mtu_from_underlay=False,
                    evidence=(Evidence("detection", f"no known CNI in {looked}"),),
                    notes=("generic model: same-node via the node (bridge or routed), cross-node routed",))
