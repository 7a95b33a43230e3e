"""Benchmarks of the provider (``make bench``, ``python -m benchmarks [--smoke]``).

Every figure is a ratio against a baseline measured in the same run, with variants interleaved and
repeated and medians reported, because the machines this runs on are small and noisy. See README.md.
"""
