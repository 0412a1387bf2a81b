"""The README promises only what exists: its port diagram is the port plan, and every
`zenmail …` command and `make` target it shows is one the code has."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click

from zenmail.cli import cli
from zenmail.config import Settings
from zenmail.stack.registry import port_plan

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def code_blocks() -> list[str]:
    """The README's fenced blocks, each as one string (fences paired in order)."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in README.splitlines():
        if line.startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def code_lines() -> list[str]:
    return [line for block in code_blocks() for line in block.splitlines()]


def test_the_diagram_shows_the_port_plan(tmp_path: Path) -> None:
    dev = port_plan(Settings(state_dir=tmp_path)).ports()
    standard = port_plan(Settings(state_dir=tmp_path).with_values(
        {"ports.plan": "standard"})).ports()
    [diagram] = [b for b in code_blocks() if "Postfix ──" in b]
    shown = {name: (int(d), int(s)) for name, d, s in
             re.findall(r"(\w+)\*?\s+dev (\d+) · std (\d+)", diagram)}
    # The API's pair stands beside "REST API /api/v1", on the line below it.
    [(d, s)] = re.findall(r"REST API /api/v1\n.*?dev (\d+) · std (\d+)", diagram)
    shown["http"] = (int(d), int(s))
    assert shown == {name: (dev[name], standard[name]) for name in dev}


def _command(words: list[str]) -> tuple[click.Command, list[str]]:
    """The command a README line names, and the options it passes."""
    cmd: click.Command = cli
    rest = list(words)
    while isinstance(cmd, click.Group) and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        assert name in cmd.commands, f"`zenmail … {name}`: no such command"
        cmd = cmd.commands[name]
    return cmd, [w.split("=")[0] for w in rest if w.startswith("--")]


def test_every_zenmail_command_in_the_readme_exists() -> None:
    lines = [line.split("#")[0] for line in code_lines() if line.startswith("zenmail ")]
    assert len(lines) >= 8
    root_options = {o for p in cli.params for o in p.opts}
    for line in lines:
        cmd, options = _command(shlex.split(line)[1:])
        known = {o for p in cmd.params for o in p.opts} | root_options
        assert not isinstance(cmd, click.Group), f"{line!r} names a group, not a command"
        assert set(options) <= known, (line, set(options) - known)


def test_every_make_target_in_the_readme_exists() -> None:
    targets = set(re.findall(r"^([a-z0-9]+):", (ROOT / "Makefile").read_text(), re.M))
    named = set(re.findall(r"`make (\w+)`", README)) | {
        line.split()[1] for line in code_lines() if line.startswith("make ")}
    assert named and named <= targets, named - targets
