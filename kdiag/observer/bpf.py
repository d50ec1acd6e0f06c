# ruff: noqa: UP006, UP031, UP035, UP045
# Shipped to nodes and run there on Python 3.8+, like kdiag/agent: no 3.10 syntax upgrades.
"""A classic BPF program, generated for one flow, that a packet socket runs in the kernel: it
passes the flow's packets (both directions), ICMP errors about them, and the same packets
carried in VXLAN, Geneve or IP-in-IP, and drops everything else before it is copied to us.

Loads are relative to the network header (SKF_NET_OFF), so one program serves Ethernet devices
and layer-3 devices (tunl0, wireguard) alike. Scratch memory: M[0] the offset of the IP header
being matched (0 for the packet itself, past the outer headers for an encapsulated one), M[1]
the outer IP header's length.
"""

from __future__ import annotations

import socket
import struct
from typing import Dict, List, Optional, Tuple

from .spec import PROTOCOLS

# linux/filter.h
LD, LDX, ST, ALU, JMP, RET, MISC = 0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x07
W, H, B = 0x00, 0x08, 0x10
IMM, ABS, IND, MEM = 0x00, 0x20, 0x40, 0x60
ADD, AND, LSH = 0x00, 0x50, 0x60
JA, JEQ, JSET = 0x00, 0x10, 0x40
K, X = 0x00, 0x08
TAX, TXA = 0x00, 0x80
SKF_AD_OFF, SKF_AD_PROTOCOL, SKF_NET_OFF = -0x1000, 0, -0x100000
ETH_P_IP, ETH_P_TEB = 0x0800, 0x6558
ICMP_ERRORS = (3, 11, 12)  # unreachable, time exceeded, parameter problem
NET = SKF_NET_OFF

Instruction = Tuple[int, Optional[str], Optional[str], int]


class Program:
    """Instructions with symbolic, forward-only jump targets, resolved by `assemble`."""

    def __init__(self) -> None:
        self.code: List[Instruction] = []
        self.labels: Dict[str, int] = {}

    def op(self, code: int, k: int = 0, jt: Optional[str] = None, jf: Optional[str] = None) -> None:
        self.code.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        assert name not in self.labels, name
        self.labels[name] = len(self.code)

    def jump(self, target: str) -> None:
        self.op(JMP | JA | K, jt=target)

    def assemble(self) -> List[Tuple[int, int, int, int]]:
        out = []
        for index, (code, jt, jf, k) in enumerate(self.code):
            if code == JMP | JA | K:  # unconditional: the offset is in k
                assert jt is not None
                out.append((code, 0, 0, self._offset(index, jt)))
                continue
            true = self._offset(index, jt) if jt else 0
            false = self._offset(index, jf) if jf else 0
            if true > 255 or false > 255:
                raise ValueError("BPF jump too long; the program is larger than planned")
            out.append((code, true, false, k & 0xFFFFFFFF))
        return out

    def _offset(self, index: int, label: str) -> int:
        offset = self.labels[label] - index - 1
        assert offset >= 0, "classic BPF jumps only forward: %s" % label
        return offset


def address(text: str) -> int:
    value: int = struct.unpack("!I", socket.inet_aton(text))[0]
    return value


def _header_end(p: Program) -> None:
    """X = M[0] + the length of the IP header at M[0] (X holds M[0] on entry)."""
    p.op(LD | B | IND, NET + 0)
    p.op(ALU | AND | K, 0x0F)
    p.op(ALU | LSH | K, 2)
    p.op(ALU | ADD | X)
    p.op(MISC | TAX)


def _pair(p: Program, offset: int, src: int, dst: int, name: str, yes: str, no: str,
          mask: int = 0xFFFFFFFF) -> None:
    """Jump to `yes` if the addresses at [X+offset] (source) and [X+offset+4] are the pair's, either way.
    `mask` widens the source to a prefix (the probe's address is known only once its pod runs)."""
    p.op(LD | W | IND, NET + offset)
    if mask != 0xFFFFFFFF:
        p.op(ALU | AND | K, mask)
    p.op(JMP | JEQ | K, src & mask, name + ".fwd", name + ".tryrev")
    p.label(name + ".fwd")
    p.op(LD | W | IND, NET + offset + 4)
    p.op(JMP | JEQ | K, dst, yes, None)
    p.label(name + ".tryrev")
    p.op(LD | W | IND, NET + offset)
    p.op(JMP | JEQ | K, dst, None, no)
    p.op(LD | W | IND, NET + offset + 4)
    if mask != 0xFFFFFFFF:
        p.op(ALU | AND | K, mask)
    p.op(JMP | JEQ | K, src & mask, yes, no)


def _match(p: Program, flow: Dict[str, object], name: str, accept: str, fail: str) -> None:
    """Accept the IP packet at offset M[0] if it is the flow, or an ICMP error about it."""
    src, dst = address(str(flow["src"])), address(str(flow["dst"]))
    prefix = int(str(flow.get("srcPrefix", 32)))
    mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    protocol = PROTOCOLS[str(flow["protocol"])]
    p.op(LDX | W | MEM, 0)
    _pair(p, 12, src, dst, name + ".addr", name + ".between", name + ".error", mask)
    p.label(name + ".between")
    p.op(LD | B | IND, NET + 9)
    if protocol == 1:
        p.op(JMP | JEQ | K, 1, accept, fail)
    else:
        # ICMP between the pair for a TCP/UDP flow is an error about it (port unreachable...).
        p.op(JMP | JEQ | K, protocol, name + ".ports", None)
        p.op(JMP | JEQ | K, 1, name + ".error", fail)
        p.label(name + ".ports")
        p.op(LD | H | IND, NET + 6)
        p.op(JMP | JSET | K, 0x1FFF, accept, None)  # a later fragment carries no ports
        _header_end(p)
        dport, sport = int(str(flow["dstPort"])), flow.get("srcPort")
        p.op(LD | H | IND, NET + 0)
        if sport is None:  # either port is the destination port: request or reply
            p.op(JMP | JEQ | K, dport, accept, None)
            p.op(LD | H | IND, NET + 2)
            p.op(JMP | JEQ | K, dport, accept, fail)
        else:
            p.op(JMP | JEQ | K, int(str(sport)), name + ".sport", None)
            p.op(JMP | JEQ | K, dport, name + ".dport", fail)
            p.label(name + ".sport")
            p.op(LD | H | IND, NET + 2)
            p.op(JMP | JEQ | K, dport, accept, fail)
            p.label(name + ".dport")
            p.op(LD | H | IND, NET + 2)
            p.op(JMP | JEQ | K, int(str(sport)), accept, fail)
    p.label(name + ".error")  # an ICMP error from anyone, quoting a packet of the flow
    p.op(LDX | W | MEM, 0)
    p.op(LD | B | IND, NET + 9)
    p.op(JMP | JEQ | K, 1, None, fail)
    p.op(LD | H | IND, NET + 6)
    p.op(JMP | JSET | K, 0x1FFF, fail, None)
    _header_end(p)
    p.op(LD | B | IND, NET + 0)
    for icmp_type in ICMP_ERRORS[:-1]:
        p.op(JMP | JEQ | K, icmp_type, name + ".quote", None)
    p.op(JMP | JEQ | K, ICMP_ERRORS[-1], name + ".quote", fail)
    p.label(name + ".quote")
    _pair(p, 8 + 12, src, dst, name + ".quoted", name + ".quoted-ok", fail, mask)
    p.label(name + ".quoted-ok")
    p.op(LD | B | IND, NET + 8 + 9)
    p.op(JMP | JEQ | K, protocol, accept, fail)


def _store_base(p: Program, extra: int) -> None:
    """M[0] = X + extra: the inner IP header's offset."""
    p.op(MISC | TXA)
    p.op(ALU | ADD | K, extra)
    p.op(ST, 0)


def flow_filter(flow: Dict[str, object], encapsulations: List[Dict[str, object]],
                snap_length: int) -> List[Tuple[int, int, int, int]]:
    """The program as (code, jt, jf, k) tuples; it returns `snap_length` for a packet it keeps."""
    p = Program()
    p.op(LD | W | ABS, SKF_AD_OFF + SKF_AD_PROTOCOL)  # skb->protocol: IPv4 only
    p.op(JMP | JEQ | K, ETH_P_IP, None, "reject")
    p.op(LD | IMM, 0)
    p.op(ST, 0)
    _match(p, flow, "plain", "accept", "outer")
    p.label("outer")
    p.op(LD | B | ABS, NET + 0)
    p.op(ALU | AND | K, 0x0F)
    p.op(ALU | LSH | K, 2)
    p.op(ST, 1)
    p.op(LD | H | ABS, NET + 6)
    p.op(JMP | JSET | K, 0x1FFF, "reject", None)  # tunnels send whole packets (DF), not fragments
    p.op(LD | B | ABS, NET + 9)
    udp = [e for e in encapsulations if e["type"] != "ipip"]
    if any(e["type"] == "ipip" for e in encapsulations):
        p.op(JMP | JEQ | K, 4, "ipip", None)
    p.op(JMP | JEQ | K, 17, "udp" if udp else "reject", "reject")
    if udp:
        p.label("udp")
        p.op(LDX | W | MEM, 1)
        p.op(LD | H | IND, NET + 2)  # UDP destination port: the tunnel's, in both directions
        for index, encapsulation in enumerate(udp):
            last = index == len(udp) - 1
            p.op(JMP | JEQ | K, int(str(encapsulation["port"])), str(encapsulation["type"]),
                 "reject" if last else None)
        kinds = {str(e["type"]) for e in udp}
        if "vxlan" in kinds:  # UDP 8 + VXLAN 8 + inner Ethernet 14
            p.label("vxlan")
            p.op(LD | H | IND, NET + 8 + 8 + 12)
            p.op(JMP | JEQ | K, ETH_P_IP, None, "reject")
            _store_base(p, 8 + 8 + 14)
            p.jump("inner")
        if "geneve" in kinds:  # UDP 8 + Geneve 8 + options (4-byte words), then Ethernet or IP
            p.label("geneve")
            p.op(LD | B | IND, NET + 8)
            p.op(ALU | AND | K, 0x3F)
            p.op(ALU | LSH | K, 2)
            p.op(ALU | ADD | X)
            p.op(ALU | ADD | K, 8 + 8)
            p.op(ST, 0)
            p.op(LD | H | IND, NET + 8 + 2)  # Geneve protocol type
            p.op(JMP | JEQ | K, ETH_P_IP, "inner", None)
            p.op(JMP | JEQ | K, ETH_P_TEB, None, "reject")
            p.op(LDX | W | MEM, 0)
            p.op(LD | H | IND, NET + 12)
            p.op(JMP | JEQ | K, ETH_P_IP, None, "reject")
            _store_base(p, 14)
            p.jump("inner")
    if any(e["type"] == "ipip" for e in encapsulations):
        p.label("ipip")
        p.op(LD | W | MEM, 1)
        p.op(ST, 0)
        p.jump("inner")
    p.label("inner")
    _match(p, flow, "inner", "accept", "reject")
    p.label("accept")
    p.op(RET | K, snap_length)
    p.label("reject")
    p.op(RET | K, 0)
    return p.assemble()


def pack(program: List[Tuple[int, int, int, int]]) -> bytes:
    """struct sock_filter[]: u16 code, u8 jt, u8 jf, u32 k."""
    return b"".join(struct.pack("HBBI", *instruction) for instruction in program)
