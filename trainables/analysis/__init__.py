"""Decoder-free analyses of the data (numpy/scipy only): representational similarity analysis."""
