"""Fake upstream providers that speak each provider's wire format, for tests and benchmarks."""
