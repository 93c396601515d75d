"""``polyagents alerts test``: one test alert to every configured target, and which of them took it.

Targets come from ``--alert URL`` (repeatable) and the ``alerts:`` section of a ``--config`` file
(the same file ``polyagents up --config`` reads). Targets are shown by their redacted label only
(``tgram://***``, ``jsons://hooks.example.com/***``): the URL's tokens never reach the terminal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cluster.errors import UserError

alerts_app = typer.Typer(help="Alerts to Telegram, Discord, Slack, e-mail or a JSON webhook (apprise URLs).",
                         no_args_is_help=True)

ALERT_HELP = ("Send alerts to this apprise URL (repeatable): tgram://, discord://, slack://, mailto://, "
              "json:// or jsons:// (a JSON webhook), ...")


def alert_config(section: Any, cli_urls: list[str] | None, source: str = "--alert") -> Any:
    """The config's ``alerts:`` section plus ``--alert`` URLs as an :class:`AlertConfig` (``None``
    without targets); a bad field is one line naming it, with any URL redacted."""
    from pydantic import ValidationError

    from cluster.alerts import merge_alert_config, scrub

    if section is not None and not isinstance(section, dict):
        raise UserError(f"{source}: alerts: expected a mapping (urls, dedupe_window_s, ...)")
    try:
        return merge_alert_config(section, cli_urls)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        urls = [str(u) for u in (section or {}).get("urls", []) or []] + list(cli_urls or [])
        msg = scrub(str(err["msg"]).removeprefix("Value error, "), urls)
        raise UserError(f"{source}: alerts.{where}: {msg}") from None


def _config_section(path: Path | None) -> Any:
    if path is None:
        return None
    from cluster.commands.runtime_control import _load_config

    return _load_config(path).get("alerts")


@alerts_app.command("test")
def test_cmd(
    alert: Annotated[list[str] | None, typer.Option("--alert", help=ALERT_HELP)] = None,
    config: Annotated[Path | None, typer.Option("--config", help="A config file with an alerts: section.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Send one test alert to each target; exit non-zero when any did not take it."""
    from cluster.alert_sender import send_test

    cfg = alert_config(_config_section(config), alert, str(config) if config else "--alert")
    if cfg is None:
        raise UserError("alerts test: no target (give --alert URL or a --config with alerts.urls)")
    results = send_test(cfg)
    failed = [r for r in results if not r["delivered"]]
    if as_json:
        typer.echo(json.dumps({"targets": results, "delivered": len(results) - len(failed),
                               "failed": len(failed)}))
    else:
        t = Table(title="alerts test")
        for col in ("target", "delivered", "error"):
            t.add_column(col)
        for r in results:
            t.add_row(r["target"], "[green]yes[/]" if r["delivered"] else "[red]no[/]", r["error"])
        Console().print(t)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
