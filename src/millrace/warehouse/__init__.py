"""The data warehouse: datasets, AI models and reports, their storage and their events."""
