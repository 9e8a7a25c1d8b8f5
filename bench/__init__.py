"""Benchmarks and the load test of the local stack (`make bench`, `make load`); not run in CI."""
