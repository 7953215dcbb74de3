"""Render the CLI reference (docs/cli.md) from the commands themselves.

``python -m retentio.cli.reference > docs/cli.md`` regenerates it; a test fails when the file
and the real CLI disagree.
"""

from __future__ import annotations

import sys
from typing import Any

import typer.main

from retentio.cli import app

__all__ = ["render_reference"]


def _option_row(param: Any) -> str:
    names = ", ".join(f"`{n}`" for n in [*param.opts, *param.secondary_opts])
    text = (getattr(param, "help", None) or "").replace("|", "\\|")
    default = param.default
    shown = (
        ""
        if default is None or default is False or isinstance(default, (list, tuple))
        else f" Default: `{default}`."
    )
    return f"| {names} | {text}{shown} |"


def _commands(group: Any, prefix: str) -> list[str]:
    """The sections of every command of ``group``, sub-groups' commands included."""
    lines: list[str] = []
    context = group.make_context(prefix, [], resilient_parsing=True)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if hasattr(command, "list_commands"):
            lines += _commands(command, f"{prefix} {name}")
            continue
        arguments = [p for p in command.params if p.param_type_name == "argument"]
        usage = " ".join([f"{prefix} {name}", *(a.name.upper() for a in arguments if a.name)])
        lines += [f"## `{prefix} {name}`", "", (command.help or "").strip(), ""]
        lines += ["```", f"{usage} [OPTIONS]", "```", ""]
        options = [p for p in command.params if p.param_type_name == "option"]
        if options:
            lines += ["| option | what |", "|---|---|"]
            lines += [_option_row(p) for p in options]
            lines.append("")
    return lines


def render_reference() -> str:
    """The Markdown reference of every command, argument and option."""
    group: Any = typer.main.get_command(app)  # Typer bundles its own click: duck-type it
    lines = [
        "# CLI reference",
        "",
        "Generated from the commands by `python -m retentio.cli.reference > docs/cli.md`; a test",
        "checks that this file matches the real CLI. Every analytics command takes the same",
        "column-mapping and parsing options (see docs/getting-started.md for examples).",
        "",
    ]
    lines += _commands(group, "retentio")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render_reference())
