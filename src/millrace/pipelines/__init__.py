"""The forecasting pipeline: plain step functions on typed artifacts, and runners for them."""
