"""Test helpers shared by the tiers: toy data, real-format files, model and study fixtures."""
