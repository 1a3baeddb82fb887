"""Dock panels of the trader's daily workflow: Rules list, Backtest (run and sweep) and Results."""
