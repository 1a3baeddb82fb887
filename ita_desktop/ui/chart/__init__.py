"""The candlestick chart and its overlays."""

from ita_desktop.ui.chart.widget import CandleChart

__all__ = ["CandleChart"]
