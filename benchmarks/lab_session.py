"""The lab a benchmark measures: the running one at `--lab-dir`, else its own in a temporary
directory, brought up for the run and taken down after (even when the benchmark fails)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from kdiag_lab import lifecycle
from kdiag_lab.paths import LabPaths


def on_lab(lab_dir: str | None, bench: Callable[[LabPaths], int], *, prefix: str) -> int:
    if lab_dir:
        paths = LabPaths(Path(lab_dir))
        state = lifecycle.LabState.load(paths)
        if state is not None and state.running():
            return bench(paths)
    if os.geteuid() != 0:
        raise SystemExit("the lab needs root: run as root or point --lab-dir at a running lab")
    root = Path(tempfile.mkdtemp(prefix=prefix))
    paths = LabPaths(root / "lab")
    try:
        lifecycle.up(paths, datapath="bridge-vxlan", workers=2, emit=lambda m: print(m, file=sys.stderr))
        return bench(paths)
    finally:
        lifecycle.down(paths, emit=lambda _m: None)
        shutil.rmtree(root, ignore_errors=True)
