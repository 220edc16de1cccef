"""Runners own transport and parallelism; every one calls the same step functions."""
