"""Runs: a trained run's folder (what training writes, what every view reads), its claim, the
background processes, limits, sweeps and comparisons. Sits above hmf_core.training and
hmf_core.interpret; imports nothing from the top (api, cli, console, export)."""
