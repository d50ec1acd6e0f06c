"""Prerequisite checks for tests that need root, network namespaces or the lab.

On a developer's laptop a missing prerequisite skips the test. When ``CI=true`` it fails
instead: CI must never report green for a check it did not run.
"""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip (laptop) or fail (CI=true) the calling test unless ``condition`` holds."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"prerequisite missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_root_netns() -> None:
    """Root and iproute2: what a test needs to build network namespaces."""
    require(os.geteuid() == 0, "needs root to create network namespaces")
    require(shutil.which("ip") is not None, "needs iproute2 (`ip`)")
