# ruff: noqa: UP006, UP031, UP035, UP045
# Shipped to nodes and run there on Python 3.8+, like kdiag/agent: no 3.10 syntax upgrades.
"""Counters of the netfilter rules that drop or reject, read before and after the window, and
the rules whose counters grew. nftables through `nft -j list ruleset`; iptables through
`iptables-save -c`, nft-backed and legacy read separately (a node may have both)."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from .tools import find, run, run_json

Key = Tuple[str, ...]
Counters = Dict[Key, Dict[str, Any]]
VERDICTS = ("drop", "reject")
IPTABLES_RULE = re.compile(r"^\[(\d+):(\d+)\] (-A (\S+) .*)$")
IPTABLES_POLICY = re.compile(r"^:(\S+) (\S+) \[(\d+):(\d+)\]$")
DROP_TARGET = re.compile(r" -j (DROP|REJECT)\b")
NFT_TABLE = re.compile(r"^table (\S+) (\S+) \{")
NFT_CHAIN = re.compile(r"^\s+chain (\S+) \{")
NFT_RULE = re.compile(r"^\s+(.*\S) # handle (\d+)$")
LEGACY_TABLES = "/proc/net/ip_tables_names"  # exists once a legacy table is loaded in this netns


def _verdict(tree: Any) -> Optional[str]:
    """`drop` or `reject` anywhere in a rule's expressions (verdict maps included)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in VERDICTS:
                return str(key)
            found = _verdict(value)
            if found:
                return found
    elif isinstance(tree, list):
        for value in tree:
            found = _verdict(value)
            if found:
                return found
    return None


def _counter(expressions: List[Any]) -> Optional[Dict[str, int]]:
    for expression in expressions:
        if isinstance(expression, dict) and isinstance(expression.get("counter"), dict):
            counter = expression["counter"]
            return {"packets": int(counter.get("packets", 0)), "bytes": int(counter.get("bytes", 0))}
    return None


def nft_counters() -> Tuple[Optional[Counters], int, str]:
    """(counters of drop/reject rules by (family, table, chain, handle), drop rules without a
    counter, error). A rule without a `counter` statement cannot show that it matched."""
    document, error = run_json(["nft", "-j", "list", "ruleset"])
    if not isinstance(document, dict):
        return None, 0, error
    counters: Counters = {}
    uncounted = 0
    for item in document.get("nftables", []):
        rule = item.get("rule") if isinstance(item, dict) else None
        if not isinstance(rule, dict):
            continue
        expressions = rule.get("expr", [])
        verdict = _verdict(expressions)
        if verdict is None:
            continue
        counter = _counter(expressions)
        if counter is None:
            uncounted += 1
            continue
        key = tuple(str(rule.get(part)) for part in ("family", "table", "chain", "handle"))
        counters[key] = dict(counter, verdict=verdict)
    return counters, uncounted, ""


def nft_rule_texts() -> Dict[Key, str]:
    """Each rule's text as `nft -a list ruleset` prints it, by (family, table, chain, handle)."""
    listing = run(["nft", "-a", "list", "ruleset"])
    texts: Dict[Key, str] = {}
    table: Tuple[str, str] = ("", "")
    chain = ""
    for line in listing.stdout.splitlines():
        if NFT_TABLE.match(line):
            family, name = NFT_TABLE.match(line).groups()  # type: ignore[union-attr]
            table, chain = (family, name), ""
        elif NFT_CHAIN.match(line):
            chain = NFT_CHAIN.match(line).group(1)  # type: ignore[union-attr]
        elif chain and NFT_RULE.match(line):
            text, handle = NFT_RULE.match(line).groups()  # type: ignore[union-attr]
            texts[(table[0], table[1], chain, handle)] = text
    return texts


def iptables_counters(text: str) -> Counters:
    """Drop/reject rules and DROP chain policies of `iptables-save -c` output. A rule is keyed by
    its table, text and occurrence, so a rule inserted during the window does not shift the others."""
    counters: Counters = {}
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            continue
        policy = IPTABLES_POLICY.match(line)
        if policy and policy.group(2) == "DROP":
            chain = policy.group(1)
            counters[(table, chain, "policy")] = {"packets": int(policy.group(3)), "verdict": "drop",
                                                  "bytes": int(policy.group(4)), "rule": ":%s DROP" % chain}
            continue
        rule = IPTABLES_RULE.match(line)
        if not rule or not DROP_TARGET.search(rule.group(3)):
            continue
        occurrence = 0
        while (table, rule.group(3), str(occurrence)) in counters:
            occurrence += 1
        counters[(table, rule.group(3), str(occurrence))] = {
            "packets": int(rule.group(1)), "bytes": int(rule.group(2)), "chain": rule.group(4),
            "verdict": DROP_TARGET.search(rule.group(3)).group(1).lower(),  # type: ignore[union-attr]
            "rule": rule.group(3)}
    return counters


def iptables_variants() -> List[Tuple[str, str]]:
    """(variant, save tool) to read: both backends when both tools exist, else whatever
    iptables-save is. Legacy only if a legacy table exists: reading would load the modules."""
    variants = [(variant, tool) for variant, tool in (("nft", "iptables-nft-save"),
                                                      ("legacy", "iptables-legacy-save")) if find(tool)]
    return variants or ([("unknown", "iptables-save")] if find("iptables-save") else [])


def read_iptables(tool: str, variant: str) -> Tuple[Optional[Counters], List[str], str]:
    """(counters, tables listed, error)."""
    if variant == "legacy":
        try:
            with open(LEGACY_TABLES) as handle:
                if not handle.read().split():
                    return {}, [], ""
        except FileNotFoundError:  # no legacy table in this namespace
            return {}, [], ""
        except OSError as error:  # root-only (0440): a non-root uid cannot tell, whatever its caps
            return None, [], "cannot read %s: %s" % (LEGACY_TABLES, error.strerror)
    saved = run([tool, "-c"])
    if not saved.ok:
        return None, [], saved.error
    tables = [line[1:].strip() for line in saved.stdout.splitlines() if line.startswith("*")]
    return iptables_counters(saved.stdout), tables, ""


def read_all() -> Dict[str, Any]:
    """Every counter source, as read now."""
    nft, uncounted, nft_error = nft_counters()
    iptables = {}
    for variant, tool in iptables_variants():
        iptables[variant] = (tool, *read_iptables(tool, variant))
    return {"nft": (nft, uncounted, nft_error), "iptables": iptables}


def _grown(before: Counters, after: Counters) -> List[Tuple[Key, Dict[str, Any], int, int]]:
    grown = []
    for key, now in after.items():
        then = before.get(key, {"packets": 0, "bytes": 0})
        if now["packets"] > then["packets"]:
            grown.append((key, now, now["packets"] - then["packets"], now["bytes"] - then["bytes"]))
    return grown


def compare(before: Dict[str, Any], after: Dict[str, Any]) -> Dict[str, Any]:
    """The report: per source, whether it could be read and the drop rules that counted packets
    during the window (any packet: the counters are not per flow)."""
    report: Dict[str, Any] = {"iptables": []}
    # Tables iptables-nft manages also appear in the nft ruleset; they are reported once, as iptables.
    nft_backed = set()
    for variant, (tool, counters, tables, error) in sorted(after["iptables"].items()):
        entry: Dict[str, Any] = {"variant": variant, "tool": tool, "available": counters is not None}
        old = before["iptables"].get(variant, (tool, None, [], ""))[1]
        if counters is None:
            entry["reason"] = error
        else:
            if variant == "nft":
                nft_backed |= set(tables)
            entry["tables"] = tables
            entry["dropRules"] = len(counters)
            entry["grown"] = [{"table": key[0], "chain": now.get("chain", key[1]), "rule": now["rule"],
                               "verdict": now["verdict"], "policy": key[2] == "policy",
                               "packets": packets, "bytes": octets, "packetsAfter": now["packets"]}
                              for key, now, packets, octets in _grown(old or {}, counters)]
        report["iptables"].append(entry)
    counters, uncounted, error = after["nft"]
    nft: Dict[str, Any] = {"available": counters is not None}
    if counters is None:
        nft["reason"] = error
    else:
        own = {key: value for key, value in counters.items() if not (key[0] == "ip" and key[1] in nft_backed)}
        grown = _grown(before["nft"][0] or {}, own)
        texts = nft_rule_texts() if grown else {}
        nft.update(dropRules=len(own), uncountedDropRules=uncounted, grown=[
            {"family": key[0], "table": key[1], "chain": key[2], "handle": int(key[3]),
             "rule": texts.get(key, ""), "verdict": now["verdict"], "packets": packets, "bytes": octets,
             "packetsAfter": now["packets"]}
            for key, now, packets, octets in grown])
    report["nftables"] = nft
    return report
