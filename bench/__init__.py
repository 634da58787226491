"""Benchmarks of ray-agents against raw Ray (`make bench`)."""
