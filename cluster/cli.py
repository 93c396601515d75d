"""The ``polyagents`` command line: typer + rich, one-line errors, non-zero exits on bad input."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

# Under `uv run`, Ray would package the working directory for every job (and refuse to run from
# outside the project): the workers can use this venv's interpreter as it is. Ray reads this when
# it is first imported, so it is set before any command imports ray.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer
from typer._click import exceptions as click_exc
from typer.core import TyperOption

from cluster.commands import register_all
from cluster.errors import OperationError, UserError

app = typer.Typer(
    name="polyagents",
    help="A supervised society of trading agents for Polymarket prediction markets, on Ray.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


_display_type_rich = TyperOption.display_type_rich


def _flag_without_type(self: TyperOption, ctx: Any) -> str | None:
    """Help shows ``--json`` alone, not ``--json <bool>``: a flag takes no value."""
    return "" if self.is_flag else _display_type_rich(self, ctx)


TyperOption.display_type_rich = _flag_without_type  # type: ignore[method-assign]


def _version_text() -> str:
    try:
        return f"polyagents {version('polyagents')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "polyagents 0+unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(_version_text())
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True)
    ] = False,
) -> None:
    """A supervised society of trading agents for Polymarket prediction markets, on Ray."""


@app.command("version")
def version_cmd() -> None:
    """Print the polyagents version."""
    typer.echo(_version_text())


register_all(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: every failure becomes one line on stderr and an exit code, never a traceback."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        # SIGTERM ends a command as promptly as Ctrl-C does (one line, exit 143), not never
        previous = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _run(argv)
    finally:
        if main_thread:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so it unwinds like Ctrl-C."""


#: What each signal ends a command with: the line on stderr and the exit code.
SIGNAL_EXIT = {signal.SIGTERM: ("terminated", 143), signal.SIGINT: ("interrupted", 130)}
_signalled: list[int] = []


class _Signalled:
    """Whether a SIGTERM or SIGINT arrived during this command (``set`` by the ray.init path)."""

    def is_set(self) -> bool:
        return bool(_signalled)

    def set(self) -> None:
        _signalled.append(signal.SIGTERM)


_terminated = _Signalled()


def _terminate(signum: int, frame: object) -> None:
    """Raise where the command is, so it unwinds (a run's journal is closed, a head stopped); a
    second signal while it unwinds ends the process at once. The signal seen is what the exit
    code goes by: a library that catches the interrupt turns it into its own error (DuckDB:
    "Query interrupted", asyncio, click's Abort), which must still end as ``terminated`` (143) or
    ``interrupted`` (130)."""
    if _signalled:
        os._exit(SIGNAL_EXIT[signal.Signals(_signalled[0])][1])
    _signalled.append(signum)
    _arm_backstop(signum)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


UNWIND_GRACE_S = 20.0
"""How long a signalled command may take to unwind before it is ended without finishing."""


def _arm_backstop(signum: int) -> None:
    """The raised interrupt can land where a loop that must survive its children's errors swallows
    it (seen once in a full test run: a `sim run` carried on for minutes after SIGTERM). The
    journal is durable at every write, so past the grace the process ends anyway, with the same line
    and exit code as a clean unwind."""
    line, code = SIGNAL_EXIT[signal.Signals(signum)]

    def end() -> None:
        sys.stderr.write(f"{line}\n")
        sys.stderr.flush()
        os._exit(code)

    t = threading.Timer(UNWIND_GRACE_S, end)
    t.daemon = True
    t.start()
    _backstops.append(t)


_backstops: list[threading.Timer] = []
"""Armed by a signal; cancelled once the command has unwound (an in-process caller lives on)."""


def _run(argv: list[str] | None) -> int:
    _signalled.clear()
    try:
        code = _run_app(argv)
    except BaseException:
        if not _signalled:
            raise
        code = 1
    finally:
        while _backstops:
            _backstops.pop().cancel()
    if _signalled:
        line, code = SIGNAL_EXIT[signal.Signals(_signalled[0])]
        typer.echo(line, err=True)
    return code


def _run_app(argv: list[str] | None) -> int:
    try:
        result = app(args=argv, standalone_mode=False, prog_name="polyagents")
    except click_exc.NoArgsIsHelpError:
        return 0
    except click_exc.UsageError as exc:
        msg = (exc.format_message().strip().splitlines() or ["bad usage"])[0]
        path = exc.ctx.command_path if exc.ctx is not None else "polyagents"
        typer.echo(f"error: {msg} (see: {path} --help)", err=True)
        return 2
    except (UserError, OperationError) as exc:
        if _terminated.is_set():
            return 143
        typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except typer.Abort as exc:
        if _terminated.is_set():  # click turns the interrupt into Abort
            return 1
        typer.echo("interrupted" if isinstance(exc.__cause__, KeyboardInterrupt) else "aborted", err=True)
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code)
    except click_exc.ClickException as exc:
        if _terminated.is_set():
            return 143
        typer.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except Terminated:
        return 143
    except SystemExit as exc:
        if exc.code == signal.SIGTERM:  # ray.init's own SIGTERM handler while it connects: sys.exit(15)
            _terminated.set()
            return 143
        raise
    except KeyboardInterrupt:
        if not _terminated.is_set():
            typer.echo("interrupted", err=True)
        return 130
    except Exception as exc:
        if _terminated.is_set():
            return 143
        logging.getLogger("polyagents.cli").debug("unexpected failure", exc_info=True)
        first = (str(exc).strip().splitlines() or [""])[0]
        typer.echo(f"error: {type(exc).__name__}: {first}", err=True)
        return 1
    return result if isinstance(result, int) else 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
