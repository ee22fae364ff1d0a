"""This machine's fp32 matmul throughput: the bound the benchmarks count model FLOPs against."""

from __future__ import annotations

import time

import torch


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of ``repeats`` (n x n) @ (n x n) fp32 products on the CPU, after one warm-up."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9
