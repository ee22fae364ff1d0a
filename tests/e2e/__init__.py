"""End-to-end tests: Ray sweeps, finals and the demo (all marked slow)."""
