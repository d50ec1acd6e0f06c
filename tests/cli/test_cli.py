"""The command line itself: help, version, completion scripts, exit codes for bad usage."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdiag import __version__
from kdiag.cli.completion_cmd import SHELLS, completion_script
from kdiag.exitcodes import ExitCode
from tests.conftest import run_kdiag

COMPLETIONS = Path(__file__).resolve().parents[2] / "completions"


def test_help_lists_the_commands() -> None:
    result = run_kdiag("--help")
    assert result.exit_code == 0
    for command in ("pods", "nodes", "pairs", "lab", "completion"):
        assert f"  {command} " in result.stdout


def test_version() -> None:
    result = run_kdiag("--version")
    assert (result.exit_code, result.stdout.strip()) == (0, f"kdiag {__version__}")


@pytest.mark.parametrize("shell", SHELLS)
def test_shipped_completion_scripts_are_current(shell: str) -> None:
    shipped = (COMPLETIONS / f"kdiag.{shell}").read_text()
    assert shipped.strip() == completion_script(shell).strip(), (
        f"completions/kdiag.{shell} is stale: regenerate it with "
        f"`kdiag completion {shell} > completions/kdiag.{shell}`"
    )


def test_unknown_command_and_bad_option_are_usage_errors() -> None:
    assert run_kdiag("frobnicate").exit_code == ExitCode.USAGE
    result = run_kdiag("pods", "-o", "fancy")
    assert result.exit_code == ExitCode.USAGE and "fancy" in result.stderr and result.stdout == ""


def test_unknown_lab_datapath_is_one_line() -> None:
    result = run_kdiag("lab", "up", "--datapath", "token-ring", "--dir", "/nonexistent/never-created")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.strip().startswith("error: unknown datapath 'token-ring'")


def test_verbose_is_accepted_after_the_subcommand_too(tmp_path: Path) -> None:
    """kubectl users put flags anywhere: `kdiag pods -v` is `kdiag -v pods`."""
    result = run_kdiag("pods", "-v", "--kubeconfig", str(tmp_path / "missing"))
    assert result.exit_code == ExitCode.USAGE
    assert "No such option" not in result.stderr and "Traceback" in result.stderr


def test_lab_status_offers_only_the_formats_it_has() -> None:
    result = run_kdiag("lab", "status", "-o", "yaml", "--dir", "/nonexistent/never-created")
    assert result.exit_code == ExitCode.USAGE and "yaml" in result.stderr


@pytest.mark.parametrize(("words", "cword", "joined", "position"), [
    (["kdiag", "pods", "--namespace", "=", "kube-f"], 4, ["kdiag", "pods", "--namespace=kube-f"], 2),
    (["kdiag", "pods", "--namespace", "="], 3, ["kdiag", "pods", "--namespace="], 2),
    (["kdiag", "pods", "-n", "x", "-o", "=", "json", "-l"], 7,
     ["kdiag", "pods", "-n", "x", "-o=json", "-l"], 5),
    (["kdiag", "pods"], 2, ["kdiag", "pods", ""], 2),
])
def test_bash_words_split_at_equals_are_joined(words: list[str], cword: int, joined: list[str],
                                               position: int) -> None:
    from kdiag.cli.main import join_option_values

    assert join_option_values(words, cword) == (joined, position)


def test_help_summaries_are_whole_sentences() -> None:
    """typer cuts a docstring's first line at 45 characters; kdiag's summaries are written whole."""
    result = run_kdiag("--help")
    commands = result.stdout.split("Commands:")[1].strip().splitlines()
    assert len(commands) >= 8
    for line in commands:
        assert line.rstrip().endswith(".") and "..." not in line, line


def test_typer_hooks_kdiag_relies_on_are_there() -> None:
    from kdiag.cli import fastparams

    fastparams.check_hook()


def test_parsing_a_command_line_does_not_import_pydantic() -> None:
    import subprocess
    import sys

    code = ("import sys; from kdiag.cli.main import main; main(['pods', '--kubeconfig', '/nonexistent']); "
            "print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('pydantic', 'kubernetes', 'kdiag_lab')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout



def _modules_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh interpreter holds after running CODE (SystemExit from it is fine)."""
    import subprocess
    import sys

    program = "import sys\ntry:\n" + "".join(f"    {line}\n" for line in code.splitlines()) + (
        "except SystemExit:\n    pass\nprint(' '.join(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60,
                            env=env)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.strip().splitlines()[-1].split())


def _kdiag(argv: list[str]) -> str:
    return f"from kdiag.cli.main import main\nmain({argv!r})"


def test_help_does_not_pay_for_the_cluster_client_or_package_metadata() -> None:
    """`kdiag --help` lists every command (plugins too) without importing the cluster client, or
    importlib.metadata and the email package it pulls in (~30 ms of its 150 ms budget)."""
    loaded = _modules_after(_kdiag(["--help"]))
    assert "kdiag.cli.main" in loaded
    heavy = sorted(m for m in loaded if m.startswith(("kdiag.cluster", "importlib.metadata", "email")))
    assert heavy == [], heavy


def test_unknown_command_still_finds_plugins_without_package_metadata() -> None:
    loaded = _modules_after(_kdiag(["lab", "--help"]))
    assert "kdiag_lab.cli" in loaded
    assert not any(m.startswith(("importlib.metadata", "email")) for m in loaded)


def test_trace_leaves_the_after_probe_modules_to_the_prefetch_thread() -> None:
    """What only `judged` and the views need is imported while the probe runs (kdiag.trace.prefetch),
    not before the trace's first request, where it lengthens the start-up outside the Time line."""
    from kdiag.trace.prefetch import AFTER_PROBE

    later = [*AFTER_PROBE, "kdiag.trace.observe", "kdiag.cluster.observers"]  # those two: --observe only
    loaded = _modules_after("import kdiag.cli.trace, kdiag.trace.run")
    assert sorted(m for m in later if m in loaded) == []


def test_prefetch_loads_the_after_probe_modules() -> None:
    from kdiag.trace.prefetch import AFTER_PROBE

    loaded = _modules_after("from kdiag.trace.prefetch import prefetch\nprefetch().join(60)")
    assert sorted(m for m in AFTER_PROBE if m not in loaded) == []


def test_completing_names_does_not_build_the_model(tmp_path: Path) -> None:
    """A Tab press needs names only: not the parser and model classes that `kdiag pods` builds."""
    import os

    config = tmp_path / "config"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9', insecure-skip-tls-verify: true}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n")
    for words in ("kdiag trace hello", "kdiag trace a svc/", "kdiag pods -n kube"):
        env = {**os.environ, "KUBECONFIG": str(config), "_KDIAG_COMPLETE": "complete_bash",
               "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
        loaded = _modules_after(_kdiag([]), env=env)
        heavy = sorted(m for m in loaded if m.startswith(
            ("kdiag.model", "kdiag.cluster.parse", "kdiag.cluster.library_auth", "tempfile")))
        assert heavy == [], (words, heavy)


def test_the_wide_pod_view_does_not_load_the_pair_rules() -> None:
    assert "kdiag.model.pairs" not in _modules_after("import kdiag.render.rows")
