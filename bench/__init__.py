"""Benchmarks: `quantcore bench SCENARIO` (a CLI plugin, see `bench.cli`), each run against
real services in a temporary platform, figures printed and saved under bench/results/.

The top layer: may import the control plane (to start services), the data plane and the
shared core. Nothing imports bench.
"""
