"""Defaults more than one layer names (the CLI's help, the probe launcher, the lab's image list)."""

from __future__ import annotations

# Ships python3 for the agent; pinned so every run is the same.
PROBE_IMAGE = "nicolaka/netshoot:v0.13"
