"""A lab daemon that dies during start-up is reported with the last line of its log."""

from __future__ import annotations

from pathlib import Path

from kdiag_lab.components import Daemon


def test_the_message_carries_the_last_log_line(tmp_path: Path) -> None:
    log = tmp_path / "kube-proxy.log"
    log.write_text("I1203 starting\nE1203 failed to bind 0.0.0.0:10256: address already in use\n\n")
    message = Daemon("kube-proxy/worker24", 1, "x", log=str(log)).exited()
    assert message == ("kube-proxy/worker24 exited during start-up "
                       "(its log ends: E1203 failed to bind 0.0.0.0:10256: address already in use)")


def test_without_a_log_the_message_is_plain(tmp_path: Path) -> None:
    assert Daemon("etcd", 1, "x").exited() == "etcd exited during start-up"
    assert Daemon("etcd", 1, "x", log=str(tmp_path / "gone.log")).exited() == "etcd exited during start-up"
