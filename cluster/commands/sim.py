"""``polyagents sim run``, ``polyagents sim sweep`` and ``polyagents report``.

Bad input (unknown scenario file, invalid YAML, a field the schema refuses, a bad ``--set``) raises
``UserError``: one line on stderr naming the file, line and field, exit code 2.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from cluster.commands.alerts import ALERT_HELP, alert_config
from cluster.errors import UserError

sim_app = typer.Typer(help="Agent-level simulations: run one scenario, or sweep seeds and parameters.",
                      no_args_is_help=True)


def _quiet_logs() -> None:
    for name in ("polyagents", "polyagents.runtime", "polyagents.simulation"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


@sim_app.command("run")
def run_cmd(
    scenario: Annotated[str, typer.Argument(help="A scenario YAML file, or the name of a shipped one (scenarios/).")],
    seed: Annotated[int | None, typer.Option("--seed", help="Seed (default: the scenario's).")] = None,
    runtime: Annotated[str, typer.Option("--runtime", help="local (default) or ray.")] = "local",
    as_json: Annotated[bool, typer.Option("--json", help="Last line: one JSON object with the summary.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Directory for run folders (journal, report).")] = Path("runs"),
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a field: key=value (dotted path).")] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip the HTML/PNG report.")] = False,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", min=0, max=65535,
                                                     help="Serve per-agent Prometheus metrics on "
                                                     "127.0.0.1:PORT (local runtime).")] = None,
    alert: Annotated[list[str] | None, typer.Option("--alert", help=ALERT_HELP)] = None,
) -> None:
    """Run one scenario on a virtual clock; write the journal and the report; print a summary."""
    from simulation.report import print_summary
    from simulation.runner import run_scenario
    from simulation.scenario import load_scenario, parse_set_options, resolve_scenario_path

    if runtime not in ("local", "ray"):
        raise UserError(f"--runtime {runtime}: expected 'local' or 'ray'")
    if seed is not None and seed < 0:
        raise UserError(f"--seed {seed}: must not be negative")
    overrides: dict[str, Any] = {}
    for key, values in parse_set_options(set_ or []).items():
        if len(values) != 1:
            raise UserError(f"--set {key}: `sim run` takes one value (use `sim sweep` for several)")
        overrides[key] = values[0]
    path = resolve_scenario_path(scenario)
    sc = load_scenario(path, overrides)
    alerts = alert_config(None, alert)
    _quiet_logs()
    sink = None
    if metrics_port is not None:
        if runtime != "local":
            raise UserError("--metrics-port serves the local runtime's metrics; on Ray use the dashboard")
        from cluster.metrics import PrometheusMetricsSink, serve_prometheus

        try:
            bound = serve_prometheus(metrics_port)
        except OSError as exc:
            raise UserError(f"--metrics-port {metrics_port}: {exc.strerror or exc}") from None
        Console(stderr=True).print(f"metrics: http://127.0.0.1:{bound}/metrics")
        sink = PrometheusMetricsSink()
    result = run_scenario(sc, seed, runtime, out, report=not no_report, metrics=sink, progress=True, alerts=alerts)
    if as_json:
        Console(stderr=True).print(f"run {result.run_id}: journal {result.journal}")
        typer.echo(json.dumps(result.summary, sort_keys=True, default=str))
    else:
        print_summary(result.summary)
    if alerts is not None:
        Console(stderr=True).print(alert_line(result.summary.get("alerts") or {}))


def alert_line(status: dict[str, Any]) -> str:
    """One line on what the run's alerts did, per target by its redacted label."""
    parts = [f"{t['target']}: {t['sent']} sent" + (f", {t['failed']} failed" if t["failed"] else "")
             + (f", {t['dropped']} dropped" if t["dropped"] else "") for t in status.get("targets", [])]
    return f"alerts: {status.get('alerts', 0)} ({'; '.join(parts) or 'no target'})"


@sim_app.command("sweep")
def sweep_cmd(
    scenario: Annotated[str, typer.Argument(help="A scenario YAML file, or the name of a shipped one.")],
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds per parameter combination (0..N-1 + base).")] = 4,
    set_: Annotated[list[str] | None, typer.Option("--set", help="key=v1,v2,... (dotted path); repeatable.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Last line: one JSON object with the results.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Directory for the sweep's table and runs.")] = Path("sweeps"),
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster address (default: local).")] = None,
    num_cpus: Annotated[int | None, typer.Option("--num-cpus", help="CPUs for a local Ray (default: all).")] = None,
) -> None:
    """Run every (seed, parameter) pair as a Ray task; write one table (DuckDB + CSV) with means and
    95 % confidence intervals per parameter value."""
    from simulation.scenario import load_scenario, load_scenario_data, parse_set_options, resolve_scenario_path
    from simulation.sweep import print_sweep, run_sweep

    if seeds < 1:
        raise UserError(f"--seeds {seeds}: must be at least 1")
    grid = parse_set_options(set_ or [])
    path = resolve_scenario_path(scenario)
    base = load_scenario(path)  # validates the file itself first (line numbers)
    data, _lines, _src = load_scenario_data(path)
    _quiet_logs()
    res = run_sweep(
        data,
        source=str(path),
        base=base,
        seeds=seeds,
        grid=grid,
        out_dir=out,
        address=address,
        num_cpus=num_cpus,
        progress=not as_json,
    )
    if as_json:
        typer.echo(json.dumps(res.to_json(), sort_keys=True, default=str))
    else:
        print_sweep(res)


def report_cmd(
    target: Annotated[Path, typer.Argument(help="A run directory or its journal.duckdb.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the report (default: beside the journal).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Last line: one JSON object with the summary.")] = False,
) -> None:
    """Rebuild the report (HTML + PNG) and print the summary of a finished simulation run."""
    import duckdb

    from simulation.analysis import analyze
    from simulation.report import print_summary, write_report

    journal = target / "journal.duckdb" if target.is_dir() else target
    if not journal.exists():
        raise UserError(f"no journal at {journal}")
    with Console(stderr=True).status(f"reading {journal} and drawing the report…"):
        try:
            analysis = analyze(journal)
        except duckdb.Error as exc:
            raise UserError(f"cannot read {journal}: {str(exc).splitlines()[0]}") from None
        except (ValueError, KeyError) as exc:
            raise UserError(f"{journal}: {exc}") from None
        path = write_report(analysis, out or journal.parent)
    summary = analysis.summary()
    summary.update({"journal": str(journal), "report": str(path)})
    if as_json:
        typer.echo(json.dumps(summary, sort_keys=True, default=str))
    else:
        print_summary(summary)


def register(app: typer.Typer) -> None:
    app.add_typer(sim_app, name="sim")
    app.command("report")(report_cmd)
