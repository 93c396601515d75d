"""MADE-UP worlds: scenarios, a synthetic crowd, runs on a virtual clock, reports and sweeps.

Public API:

* :func:`simulation.scenario.load_scenario` (YAML → frozen :class:`~simulation.scenario.Scenario`,
  errors naming file, line and field), :func:`~simulation.scenario.apply_overrides`,
  :func:`~simulation.scenario.parse_set_options`;
* :func:`simulation.runner.run_scenario` (scenario, seed, ``"local"|"ray"``, out_dir) →
  :class:`~simulation.runner.RunResult` (journal, report, summary, journal hash);
* :func:`simulation.analysis.analyze` (a finished journal → metrics) and
  :func:`simulation.report.write_report`;
* :func:`simulation.sweep.run_sweep` (every (seed, parameter) pair as a Ray task);
* :func:`simulation.crowd.build_crowd` and the crowd's agent classes.

See docs/scenarios.md.
"""
