"""One result row of `flowgrid bench`: a figure beside its baseline from the same run."""

from typing import Any


def result_row(name: str, unit: str, baseline: float, flowgrid: float) -> dict[str, Any]:
    """`{"name", "unit", "baseline", "flowgrid", "ratio"}`, ratio = flowgrid / baseline."""
    return {
        "name": name,
        "unit": unit,
        "baseline": round(baseline, 3),
        "flowgrid": round(flowgrid, 3),
        "ratio": round(flowgrid / baseline, 3) if baseline else None,
    }


def latency_row(
    name: str, unit: str, baseline: list[float], flowgrid: list[float], q: float
) -> dict[str, Any]:
    """The `q` quantile of two lists of durations in seconds, as a row in milliseconds."""
    return result_row(
        name, unit, percentile(baseline, q) * 1000.0, percentile(flowgrid, q) * 1000.0
    )


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank `q` quantile (0 <= q <= 1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
