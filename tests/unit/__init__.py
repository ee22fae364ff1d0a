"""Unit tests: no Ray, no subprocess; fast."""
