"""Route modules; each is thin and calls the warehouse services."""
