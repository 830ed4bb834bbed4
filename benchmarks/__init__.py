"""Benchmarks of HjerteKom (``make bench`` runs ``python -m benchmarks``).

Rule of the project: performance is judged by benchmarks that print RATIOS against a baseline
measured in the same run on the same machine, never by timed assertions in tests. Each benchmark
lives in its own module here and registers itself in ``benchmarks.__main__.BENCHMARKS``; shared
helpers (percentiles, tables, worker processes, scratch stores) are in ``benchmarks.common``.
"""
