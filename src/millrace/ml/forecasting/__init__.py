"""Time-series forecasting: data preparation, one model interface, metrics."""
