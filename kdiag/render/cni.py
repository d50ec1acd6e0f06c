"""Text view of `kdiag cni`: the detected datapath and the evidence for it."""

from __future__ import annotations

from kdiag.model.datapath import Datapath, Mode, Routing


def datapath_text(datapath: Datapath) -> str:
    o = datapath.overlay
    bridged = datapath.mode is Mode.BRIDGE and datapath.bridge
    attach = f"bridge {datapath.bridge}" if bridged else datapath.mode.value
    lines = [
        f"CNI:       {datapath.cni}" + (" (generic model)" if datapath.generic else ""),
        f"Pods:      {attach}" + (f", gateway {datapath.gateway}" if datapath.gateway else ""),
        f"Routing:   {datapath.routing.value}",
    ]
    if o.enabled:
        extra = [f"VNI {o.vni}" if o.vni is not None else "", f"overhead {o.overhead} bytes",
                 "only across subnets" if o.cross_subnet_only else ""]
        lines.append(f"Overlay:   {o.describe()} ({', '.join(x for x in extra if x)})")
    elif datapath.routing is not Routing.L2:
        lines.append("Overlay:   none")
    if datapath.pod_mtu:
        lines.append(f"Pod MTU:   {datapath.pod_mtu}")
    lines.append("Evidence:")
    lines += [f"  {e.source}: {e.detail}" for e in datapath.evidence] or ["  none"]
    if datapath.notes:
        lines.append("Notes:")
        lines += [f"  {note}" for note in datapath.notes]
    return "\n".join(lines) + "\n"
