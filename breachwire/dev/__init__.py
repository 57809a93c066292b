"""Tools for development, tests, the demo and benchmarks: never imported by a service."""
