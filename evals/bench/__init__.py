"""Benchmarks of FlowGrid beside a plain baseline, printed as one JSON document.

`python -m evals.bench [--quick] [--json] [--out FILE]` (or `flowgrid bench`) starts a private
embedded PostgreSQL in a temporary directory, runs the benchmarks in `evals.bench.crypto`, and
prints `{"machine": {...}, "results": [{"name", "unit", "baseline", "flowgrid", "ratio"}]}`.
Ratios are flowgrid / baseline from the same run on the same machine; absolute numbers are only
comparable between runs on one machine.
"""
