"""Simulated hospitals: event streams, staff, benchmarks and fault injection."""
