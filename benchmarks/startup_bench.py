"""Benchmark what a user feels on every command: start-up, `kdiag pods`, `--help`, completion.

    python3 benchmarks/startup_bench.py [--runs N] [--lab-dir DIR]

Uses the lab in --lab-dir (or $KDIAG_TEST_LAB_DIR) when one is up there, else brings a
bridge-vxlan lab (5 seed pods in default) up in a temporary directory and takes it down afterwards
(needs root). Every command is the installed console script as a user types it (interpreter
start-up included; bytecode compiled first, as `pip install` does), timed --runs times; the median
is compared with kubectl measured in the same run, interleaved so that machine load hits both:

    kdiag pods                          <= 2.5x `kubectl get pods -o wide`
    kdiag --help                        <= 0.15 s
    completion of pod names             <= 0.25 s
    completion against a silent API     <= 2 s, offering nothing (a loopback socket that accepts
                                           and never answers)

Exits 1 if a target is missed. The 10,000-pod comparison is benchmarks/pods_bench.py.
`--checkout DIR` measures the kdiag of another checkout (put first on PYTHONPATH), e.g. an
export of an older commit, for before/after figures in the same conditions.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.lab_session import on_lab  # noqa: E402
from kdiag_lab import binaries  # noqa: E402  (needs the repo root on sys.path)
from kdiag_lab.paths import LabPaths  # noqa: E402

BIN = Path(sys.executable).parent
PODS_RATIO, HELP_SECONDS, COMPLETE_SECONDS, SILENT_SECONDS = 2.5, 0.15, 0.25, 2.0


CHECKOUT: list[Path] = [REPO]  # the kdiag measured; main() may point it elsewhere


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if CHECKOUT[0] != REPO:
        env["PYTHONPATH"] = str(CHECKOUT[0])
    return {**env, **extra}


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    began = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    elapsed = time.monotonic() - began
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return elapsed, proc.stdout


def _completion_env(kubeconfig: Path, words: str) -> dict[str, str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    return _env(KUBECONFIG=str(kubeconfig), _KDIAG_COMPLETE="complete_bash", COMP_WORDS=words,
                COMP_CWORD=str(cword))


def _silent_kubeconfig(paths: LabPaths, listener: socket.socket, into: Path) -> Path:
    config = yaml.safe_load(paths.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{listener.getsockname()[1]}"
    path = into / "silent.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def bench(paths: LabPaths, runs: int) -> int:
    compileall.compile_dir(str(CHECKOUT[0] / "kdiag"), quiet=1)
    compileall.compile_dir(str(CHECKOUT[0] / "kdiag_lab"), quiet=1)
    kubectl = str(binaries.resolve(build=False).kubectl)
    kdiag = str(BIN / "kdiag")
    lab_env = _env(KUBECONFIG=str(paths.kubeconfig))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    scratch = Path(tempfile.mkdtemp(prefix="kdiag-startup-bench-"))
    silent = _silent_kubeconfig(paths, listener, scratch)
    pods, help_, complete, silent_complete = ("kdiag pods", "kdiag --help", "complete `kdiag trace hello`",
                                              "complete, silent API")
    checks: dict[str, tuple[list[str], dict[str, str], Callable[[str], bool]]] = {
        "kubectl get pods -o wide": ([kubectl, "get", "pods", "-o", "wide"], lab_env,
                                     lambda out: "hello" in out),
        pods: ([kdiag, "pods"], lab_env, lambda out: "hello" in out),
        help_: ([kdiag, "--help"], lab_env, lambda out: "Commands:" in out),
        complete: ([kdiag], _completion_env(paths.kubeconfig, "kdiag trace hello"),
                   lambda out: len(out.split()) == 2),
        silent_complete: ([kdiag], _completion_env(silent, "kdiag trace hello"),
                          lambda out: out.strip() == ""),
    }
    times: dict[str, list[float]] = {name: [] for name in checks}
    try:
        for argv, env, _ok in checks.values():
            timed(argv, env)  # warm-up: page cache, apiserver watch cache
        for _ in range(runs):
            for name, (argv, env, ok) in checks.items():
                elapsed, out = timed(argv, env)
                if not ok(out):
                    raise SystemExit(f"{name}: unexpected output {out!r}")
                times[name].append(elapsed)
    finally:
        listener.close()
        shutil.rmtree(scratch, ignore_errors=True)
    median = {name: statistics.median(values) for name, values in times.items()}
    baseline = median["kubectl get pods -o wide"]
    worst_silent = max(times[silent_complete])
    rows = [
        (pods, median[pods] / baseline, f"<= {PODS_RATIO}x kubectl", median[pods] / baseline <= PODS_RATIO),
        (help_, median[help_], f"<= {HELP_SECONDS} s", median[help_] <= HELP_SECONDS),
        (complete, median[complete], f"<= {COMPLETE_SECONDS} s", median[complete] <= COMPLETE_SECONDS),
        (silent_complete, worst_silent, f"<= {SILENT_SECONDS} s (max)", worst_silent <= SILENT_SECONDS),
    ]
    print(f"start-up benchmark of {CHECKOUT[0]}, {runs} interleaved runs, medians (lab {paths.root})")
    for name, values in times.items():
        middle = statistics.median(values)
        print(f"  {name:<32} {middle:6.3f} s   min {min(values):.3f}  max {max(values):.3f}  "
              f"= {middle / baseline:4.1f}x kubectl")
    print("targets:")
    for name, value, target, met in rows:
        shown = f"{value:.2f}x" if name == pods else f"{value:.3f} s"
        print(f"  {name:<32} {shown:>9}  {target:<22} {'met' if met else 'MISSED'}")
    load = os.getloadavg()[0]
    print(f"  (load average {load:.1f} on {os.cpu_count()} CPUs during the run)")
    return 0 if all(ok for *_rest, ok in rows) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--lab-dir", default=os.environ.get("KDIAG_TEST_LAB_DIR"))
    parser.add_argument("--checkout", type=Path, help="measure the kdiag of this checkout instead")
    args = parser.parse_args()
    if args.checkout:
        CHECKOUT[0] = args.checkout.resolve()
    return on_lab(args.lab_dir, lambda paths: bench(paths, args.runs), prefix="kdiag-startup-bench-")


if __name__ == "__main__":
    sys.exit(main())
