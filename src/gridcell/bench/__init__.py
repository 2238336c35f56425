"""Benchmarks behind the product figures; each yields one dict per figure (see benchmarks/README.md)."""
