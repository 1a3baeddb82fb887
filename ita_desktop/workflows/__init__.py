"""Workflows: the multi-step work over a store that the core's services and the CLI run (ingest, scan, backtest)."""
