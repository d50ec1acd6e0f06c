"""`kdiag trace --observe`: one node observer per node of the expected path, started before the probe
and collected after it, through one ExitStack of `workloads.launched` (so they are deleted like probe
pods: on success, failure, timeout and every signal).

The observers' flow names the probe's destination exactly and its source as a prefix (the source
node's podCIDR): the probe pod's own address is known only once it runs. The captured packets are
narrowed to the probe's address afterwards, in the model. Decoding uses scapy
(kdiag.observer.decode), imported only here, only with --observe.
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kdiag.cluster import observers, workloads
from kdiag.cluster.client import Cluster
from kdiag.cluster.observers import ObserverSpec
from kdiag.cluster.probepods import new_run_id
from kdiag.model.capture import NodeCapture, Packet, parse_capture
from kdiag.model.datapath import OverlayKind
from kdiag.model.objects import NodeInfo, PodInfo
from kdiag.model.path import ExpectedPath

Say = Callable[[str], None]
_ENCAPSULATIONS = {OverlayKind.VXLAN: "vxlan", OverlayKind.GENEVE: "geneve", OverlayKind.IPIP: "ipip"}


def _source(src: PodInfo, nodes: Mapping[str, NodeInfo], *, mode: str) -> tuple[str, int]:
    """(address, prefix length) the probe's packets come from."""
    node = nodes.get(src.node_name)
    if mode == "pod" and not src.host_network and node is not None:
        for cidr in node.pod_cidrs:
            net = ipaddress.ip_network(cidr, strict=False)
            if net.version == 4:
                return str(net.network_address), net.prefixlen
    return src.pod_ip, 32


def observer_specs(path: ExpectedPath, *, src: PodInfo, nodes: Mapping[str, NodeInfo], protocol: str,
                   port: int | None, mode: str, namespace: str, image: str,
                   timeout: float) -> list[ObserverSpec]:
    dp = path.datapath
    address, prefix = _source(src, nodes, mode=mode)
    flow: dict[str, Any] = {"protocol": protocol, "src": address, "srcPrefix": prefix, "dst": path.dst_ip}
    if protocol != "icmp" and port is not None:
        flow["dstPort"] = port
    named = [{"name": dp.bridge, "role": "bridge"}] if dp.bridge else []
    if dp.overlay.device:
        named.append({"name": dp.overlay.device, "role": "tunnel"})
    kind = _ENCAPSULATIONS.get(dp.overlay.kind)
    encapsulations = []
    if kind:
        port_of = {"port": dp.overlay.udp_port} if dp.overlay.udp_port else {}
        encapsulations.append({"type": kind, **port_of})
    run_id = new_run_id()
    specs = []
    for node in dict.fromkeys(n for n in (path.src_node, path.dst_node) if n):
        peer = path.dst_node_ip if node == path.src_node else path.src_node_ip
        peers = [peer] if path.relation.cross_node and peer else []
        argument = observers.observer_argument(node=node, flow=flow, interfaces=named,
                                               encapsulations=encapsulations, peers=peers, window=timeout)
        routes = _routes(path, node)
        if routes:
            argument["routes"] = routes
        specs.append(ObserverSpec(node, namespace, run_id, image, timeout, argument))
    return specs


def _routes(path: ExpectedPath, node: str) -> dict[str, dict[str, str]]:
    """Where each direction arrives at `node` when the node forwards it (devices known by name only)."""
    dp = path.datapath
    arrives_from_peer = dp.overlay.device if path.encapsulated else ""
    routes: dict[str, dict[str, str]] = {}
    first, second = ("request", "reply") if node == path.src_node else ("reply", "request")
    if dp.bridge:
        routes[first] = {"iif": dp.bridge}  # from the node's own pod, through its bridge
    if path.relation.cross_node and arrives_from_peer:
        routes[second] = {"iif": arrives_from_peer}
    return routes


def _packet(decoded: Any) -> Packet:
    flow = decoded.quoted if decoded.quoted is not None else decoded.flow
    return Packet(decoded.interface, decoded.direction, flow.src, flow.dst, flow.protocol,
                  decoded.encapsulation is not None, decoded.quoted is not None, decoded.timestamp)


def _load_decoder(ports: frozenset[tuple[str, int]]) -> None:
    from kdiag.observer.decode import prepare

    prepare(ports)


def capture_of(result: Mapping[str, Any]) -> NodeCapture:
    from kdiag.observer.decode import DecodeError, decode_record, tunnel_ports

    ports = tunnel_ports(result)
    packets = []
    for record in result.get("packets") or []:
        try:
            packets.append(_packet(decode_record(record, udp_ports=ports)))
        except DecodeError:
            continue
    return parse_capture(result, packets)


class Observing:
    """Running observers; `collect()` stops them and returns what each node saw."""

    def __init__(self, cluster: Cluster, handles: list[workloads.Launched], say: Say,
                 decoder: threading.Thread) -> None:
        self.cluster, self.handles, self.say, self.decoder = cluster, handles, say, decoder

    def collect(self) -> tuple[NodeCapture, ...]:
        for handle in self.handles:
            observers.stop(self.cluster, handle.workload)
        captures = []
        for handle in self.handles:
            finished = handle.finish(say=self.say)
            work = handle.workload
            raw = observers.observer_result(finished.log, where=f"{work.namespace}/{work.pod}",
                                            exit_code=finished.exit_code)
            self.decoder.join()
            captures.append(capture_of(raw))
        return tuple(captures)


@contextlib.contextmanager
def observing(cluster: Cluster, specs: list[ObserverSpec], *, say: Say, warn: Say,
              deletions: workloads.Deletions | None = None) -> Iterator[Observing]:
    """Create every observer, wait until each captures, yield; the exit deletes them all."""
    # Importing scapy takes ~1 s (several on a busy machine): done meanwhile, while the trace waits
    # for pods and answers, so decoding the captures does not start with it.
    ports = frozenset((str(e["type"]), int(e["port"])) for spec in specs
                      for e in spec.argument["encapsulations"] if "port" in e)
    decoder = threading.Thread(target=_load_decoder, args=(ports,), name="kdiag-scapy", daemon=True)
    decoder.start()
    with contextlib.ExitStack() as stack:
        handles = []
        for spec in specs:
            try:
                work = observers.workload(spec)
                handles.append(stack.enter_context(
                    workloads.launched(cluster, work, say=say, warn=warn, deletions=deletions)))
            except workloads.PodSecurityRejected as exc:
                raise observers.refused(exc, spec.namespace) from None
        deadline = time.monotonic() + max(spec.timeout for spec in specs)
        for handle in handles:
            say(f"waiting for the observer on {handle.workload.node}")
            observers.wait_capturing(cluster, handle.workload, deadline=deadline)
        yield Observing(cluster, handles, say, decoder)
