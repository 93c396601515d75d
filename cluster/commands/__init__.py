"""CLI command groups. Each module exposes ``register(app)``; cli.py registers those that exist."""

from __future__ import annotations

import importlib
import logging

import typer

log = logging.getLogger("polyagents.cli")

#: Modules under cluster.commands, in the order their commands appear in --help.
COMMAND_MODULES: tuple[str, ...] = (
    "journal",
    "demo",
    "runtime_control",
    "sim",
    "markets",
    "loopback",
    "runs",
    "alerts",
)


def register_all(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"cluster.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"cluster.commands.{name}":
                continue
            raise
        module.register(app)
