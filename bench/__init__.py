"""Benchmark tooling: the data generator (`python -m bench.generate`) and its helpers."""
