"""Integration tests: subprocesses, the CLI on data, dreamsim models."""
