"""The README's examples, checked so they cannot drift from the code.

* every ```python block runs as written;
* every shell command is classified below: run here (offline and fast), or skipped with the
  reason. A new command in the README fails this test until it is classified;
* every ``headstart`` command the README shows (synopses included) names a real subcommand, and
  every ``--flag`` in it is an option of that subcommand;
* the files the examples point at (the curl example's image) exist.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)

# (pattern of a README shell command, None to run it here, or why it is not run)
SHELL_COMMANDS: list[tuple[str, str | None]] = [
    (r"make (demo|test)", "creates .venv from scratch and trains / runs the whole suite; CI runs `make test` itself"),
    (r"python3 -m venv .*|pip install .*", "installs packages (needs the network)"),
    (r"headstart train examples/ants_bees --name ants", "the full demo training (about 35 s on 2 cores)"),
    (r"headstart (export|serve) runs/ants( .*)?", "needs the demo run runs/ants trained by the line above"),
    (r"curl -F file=@(\S+) http://127\.0\.0\.1:8000/predict", "needs the running service; its image is checked to exist"),
    (r"(torchrun|srun) .*", "multi-process launchers (torchrun/SLURM)"),
    (r"headstart train examples/ants_bees --model tinycnn .*", "the CLI twin of the Python API block, which runs"),
    (r"headstart models( \[?[\w:*]*\]?)?", None),
    (r"headstart --version", None),
    (r"headstart \w[\w-]* .*(DATA|NAME|RUN|STRATEGY|data\.csv|data\.tsv|runs/<run>|runs/my-run).*",
     "synopsis with placeholders (DATA, RUN, ...): its flags are checked against the CLI"),
]


def _blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text()) if lang == language]


def _shell_commands() -> list[str]:
    commands = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(" ".join(words).removesuffix(" &"))
    return commands


def _verdict(command: str) -> tuple[str, str | None]:
    for pattern, reason in SHELL_COMMANDS:
        if re.fullmatch(pattern, command):
            return pattern, reason
    raise AssertionError(f"README shell command not classified in tests/test_readme.py: {command!r}")


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_python_block_runs_as_written(index: int, monkeypatch, tmp_path) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # blocks use paths relative to the repository root
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = _blocks("python")[index]
    exec(compile(code, f"README.md python block {index + 1}", "exec"), {"__name__": "__readme__"})


def test_every_shell_command_is_classified() -> None:
    commands = _shell_commands()
    assert len(commands) > 10
    for command in commands:
        _verdict(command)


def _cli_options() -> dict[str, set[str]]:
    import typer.main

    from headstart.cli import app

    group = typer.main.get_command(app)
    options = {}
    for name, command in group.commands.items():
        options[name] = {o for p in command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}
    return options


def test_headstart_commands_use_real_subcommands_and_flags() -> None:
    options = _cli_options()
    checked = 0
    for command in _shell_commands():
        words = command.split()
        if "headstart" not in words:
            continue
        at = words.index("headstart")
        name = words[at + 1]
        if name.startswith("-"):  # `headstart --version`: an option of the app itself, run by the test below
            continue
        assert name in options, f"README: `headstart {name}` is not a command ({command!r})"
        for word in words[at + 2:]:
            for flag in re.findall(r"(--[\w-]+)", word):
                assert flag in options[name], f"README: `headstart {name}` has no option {flag} ({command!r})"
                checked += 1
    assert checked > 20


def test_runnable_shell_commands_run_as_written(capsys) -> None:
    from headstart.cli import main

    ran = 0
    for command in _shell_commands():
        if _verdict(command)[1] is not None:
            continue
        argv = shlex.split(command)[1:]
        variants = [[w.strip("[]") for w in argv]]  # an optional argument shown as [ARG]: with it ...
        if any(w.startswith("[") for w in argv):
            variants.append([w for w in argv if not w.startswith("[")])  # ... and without it
        for args in variants:
            assert main(args) == 0, (command, capsys.readouterr().err[-2000:])
            ran += 1
    assert ran >= 2


def test_files_the_examples_use_exist() -> None:
    for command in _shell_commands():
        match = re.fullmatch(r"curl -F file=@(\S+) .*", command)
        if match:
            assert (ROOT / match.group(1)).is_file(), command
