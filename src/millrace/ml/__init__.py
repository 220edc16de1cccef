"""Machine learning: tabular AutoML, fairness, explanations (and forecasting, next)."""
