"""The tabwriter port against output of github.com/liggitt/tabwriter as kubectl configures it.

Every expected string below was produced by the Go package itself (NewWriter(out, 6, 4, 3, ' ',
RememberWidths)); the port was also fuzzed against it on 10,000 random inputs without a difference.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kdiag.model.objects import (
    ContainerPort,
    ContainerState,
    ContainerStatusInfo,
    NodeInfo,
    PodCondition,
    PodInfo,
)
from kdiag.render.rows import (
    NODE_HEADER,
    POD_NET_HEADER,
    node_rows,
    pod_net_header,
    pod_net_rows,
    pod_wide_header,
    pod_wide_rows,
)
from kdiag.render.tabwriter import TabWriter, format_table, kubectl_cell

KUBECTL_WIDE_INPUT = [
    "NAMESPACE\tNAME\tREADY\tSTATUS\tRESTARTS\tAGE\tIP\tNODE\tNOMINATED NODE\tREADINESS GATES\n",
    "default\tweb-7d4b9c8f6-abcde\t1/1\tRunning\t2 (5m ago)\t6d2h\t10.244.1.17\tnode-1\t<none>\t<none>\n",
    "kube-system\tcoredns-1\t0/1\tCrashLoopBackOff\t12 (3m10s ago)\t45m\t<none>\tnode-2\t<none>\t1/2\n",
]
KUBECTL_WIDE_OUTPUT = (
    "NAMESPACE     NAME                  READY   STATUS             RESTARTS         AGE    IP"
    "            NODE     NOMINATED NODE   READINESS GATES\n"
    "default       web-7d4b9c8f6-abcde   1/1     Running            2 (5m ago)       6d2h   10.244.1.17"
    "   node-1   <none>           <none>\n"
    "kube-system   coredns-1             0/1     CrashLoopBackOff   12 (3m10s ago)   45m    <none>"
    "        node-2   <none>           1/2\n"
)

GO_CASES = [
    pytest.param(
        ["aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n"],
        # text/tabwriter's own doc example: b and c are separate column blocks; d and e are not columns.
        "aaaa   bbb   d\naa     b     dd\na      \naa     cccc   eee\n",
        id="column-blocks",
    ),
    pytest.param(
        KUBECTL_WIDE_INPUT,
        KUBECTL_WIDE_OUTPUT,
        id="kubectl-get-pods-wide-all-namespaces",
    ),
    pytest.param(
        ["NAME\tIPS\n", "x\t\n", "日本語\tfd00::1,10.0.0.1\n"],
        # Width counts code points; an empty last cell leaves the previous cell's padding behind.
        "NAME   IPS\nx      \n日本語    fd00::1,10.0.0.1\n",
        id="unicode-and-empty-trailing-cell",
    ),
    pytest.param(
        ["a\tb\tc\n", None, "aaaaaaaaaa\tb\tc\n"],
        # RememberWidths: a column never narrows after a flush (None = Flush()).
        "a     b     c\naaaaaaaaaa   b     c\n",
        id="remember-widths-across-flush",
    ),
    pytest.param(["a\tb\n\fcccccccccc\td\n"], "a     b\n\ncccccccccc   d\n", id="formfeed-ends-block"),
    pytest.param(["one\ntwo\tx\nthree\n"], "one\ntwo   x\nthree\n", id="single-cell-lines"),
]


@pytest.mark.parametrize(("chunks", "expected"), GO_CASES)
def test_matches_go_tabwriter(chunks: list[str | None], expected: str) -> None:
    writer = TabWriter()
    for chunk in chunks:
        if chunk is None:
            writer.flush()
        else:
            writer.write(chunk)
    writer.flush()
    assert writer.getvalue() == expected


def test_writes_may_split_cells_anywhere() -> None:
    whole = "aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n"
    writer = TabWriter()
    for char in whole:
        writer.write(char)
    writer.flush()
    assert writer.getvalue() == "aaaa   bbb   d\naa     b     dd\na      \naa     cccc   eee\n"


def test_format_table_is_kubectl_output() -> None:
    header, *rows = [tuple(line.rstrip("\n").split("\t")) for line in KUBECTL_WIDE_INPUT]
    assert format_table(header, rows) == KUBECTL_WIDE_OUTPUT


def test_format_table_without_rows_prints_nothing() -> None:
    assert format_table(("NAME",), []) == ""


def test_format_table_without_header() -> None:
    assert format_table(None, [("a", "b")]) == "a     b\n"


def test_write_row_falls_back_when_a_cell_holds_a_tab() -> None:
    writer = TabWriter()
    writer.write_row(("a\tb", "c"))
    writer.write_row(("x", "y", "z"))
    writer.flush()
    assert writer.getvalue() == "a     b     c\nx     y     z\n"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("plain", "plain"),
        ("first line\nsecond", "first line..."),
        ("cr\rthen", "cr..."),
        ("form\ffeed", "form..."),
        ("\x1b[31mred", "^[[31mred"),
    ],
)
def test_kubectl_cell(cell: str, expected: str) -> None:
    assert kubectl_cell(cell) == expected


# --- the row builders, rendered as `kdiag pods` / `kdiag nodes` print them ------------------------

NOW = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
RUNNING_WEB = PodInfo(
    "default",
    "web",
    node_name="node-1",
    phase="Running",
    pod_ip="10.244.1.17",
    pod_ips=("10.244.1.17", "fd00:1::17"),
    host_ip="192.168.0.1",
    created=NOW - timedelta(days=6, hours=2),
    containers=("web",),
    container_statuses=(
        ContainerStatusInfo(
            "web",
            True,
            2,
            ContainerState("running"),
            ContainerState("terminated", finished_at=NOW - timedelta(minutes=5)),
        ),
    ),
    conditions=(PodCondition("Ready", "True"),),
    ports=(ContainerPort("web", 8080), ContainerPort("web", 53, "UDP")),
)
PENDING = PodInfo(
    "kube-system", "coredns-1", phase="Pending", created=NOW - timedelta(seconds=45), containers=("c",)
)
NODE_1 = NodeInfo(
    "node-1",
    ready="True",
    roles=("control-plane",),
    internal_ips=("192.168.0.1",),
    pod_cidrs=("10.244.1.0/24",),
)


def test_pods_all_namespaces_table() -> None:
    text = format_table(pod_wide_header(True), pod_wide_rows([RUNNING_WEB, PENDING], NOW, True))
    assert text == (
        "NAMESPACE     NAME        READY   STATUS    RESTARTS     AGE    IP            NODE"
        "     NOMINATED NODE   READINESS GATES\n"
        "default       web         1/1     Running   2 (5m ago)   6d2h   10.244.1.17   node-1"
        "   <none>           <none>\n"
        "kube-system   coredns-1   0/1     Pending   0            45s    <none>        <none>"
        "   <none>           <none>\n"
    )


def test_pods_in_one_namespace_have_no_namespace_column() -> None:
    assert pod_wide_header(False)[0] == "NAME"
    assert next(pod_wide_rows([RUNNING_WEB], NOW, False))[0] == "web"


def test_net_rows() -> None:
    elsewhere = PodInfo("default", "odd", node_name="node-1", phase="Running", pod_ip="10.9.0.1")
    host = PodInfo(
        "default", "agent", node_name="node-2", phase="Running", pod_ip="192.168.0.2", host_network=True
    )
    rows = list(pod_net_rows([RUNNING_WEB, elsewhere, host, PENDING], {"node-1": NODE_1}, False))
    assert pod_net_header(False) == POD_NET_HEADER
    assert rows == [
        (
            "web",
            "10.244.1.17,fd00:1::17",
            "node-1",
            "192.168.0.1",
            "10.244.1.0/24",
            "false",
            "8080/TCP,53/UDP",
            "<none>",
        ),
        ("odd", "10.9.0.1", "node-1", "192.168.0.1", "10.244.1.0/24", "false", "<none>", "OUTSIDE-CIDR"),
        ("agent", "192.168.0.2", "node-2", "<none>", "<none>", "true", "<none>", "<none>"),
        ("coredns-1", "<none>", "<none>", "<none>", "<none>", "false", "<none>", "<none>"),
    ]
    assert next(pod_net_rows([RUNNING_WEB], {}, True))[:2] == ("default", "web")


def test_node_rows() -> None:
    cordoned = NodeInfo("node-2", ready="False", unschedulable=True)
    rows = list(node_rows([NODE_1, cordoned], {"node-1": 12}))
    assert format_table(NODE_HEADER, rows) == (
        "NAME     STATUS                        ROLES           INTERNAL-IP   POD CIDR(S)     PODS\n"
        "node-1   Ready                         control-plane   192.168.0.1   10.244.1.0/24   12\n"
        "node-2   NotReady,SchedulingDisabled   <none>          <none>        <none>          0\n"
    )
