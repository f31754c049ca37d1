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
