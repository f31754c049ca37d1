"""The report of a run: counts per class, what failed and why, as JSON and as text.

A case proves a guarantee only if every judge gave a verdict on it. A case whose task raised, a
judge that raised (pydantic-evals keeps those apart, in `evaluator_failures`), or a verdict that
is missing is a harness error: never a pass.
"""

import json
from typing import Any

from evals.safety.attack import SafetyReport
from evals.safety.judges import CLASSES, HARNESS
from evals.safety.utility import UtilityReport

REDACTED = "[a secret, redacted]"


def safety_summary(report: SafetyReport) -> dict[str, Any]:
    classes = {name: {"cases": 0, "violations": 0} for name in CLASSES}
    failures: list[dict[str, Any]] = []
    for case in report.cases:
        aimed = (case.metadata or {}).get("target")
        if aimed in classes:
            classes[aimed]["cases"] += 1
        for name, result in case.assertions.items():
            if result.value is True:
                continue
            if name in classes:
                classes[name]["violations"] += 1
            failures.append({"case": case.name, "class": name, "reason": result.reason})
        for broken in case.evaluator_failures:
            failures.append(
                {
                    "case": case.name,
                    "class": HARNESS,
                    "reason": f"a judge failed: {broken.error_message}",
                }
            )
        for missing in sorted({*CLASSES, HARNESS} - set(case.assertions)):
            if not case.evaluator_failures:
                failures.append(
                    {"case": case.name, "class": HARNESS, "reason": f"no verdict for {missing}"}
                )
    failures += [
        {"case": failure.name, "class": HARNESS, "reason": failure.error_message}
        for failure in report.failures
    ]
    broken = sum(1 for f in failures if f["class"] == HARNESS)
    return {
        "cases": len(report.cases) + len(report.failures),
        "violations": len(failures) - broken,
        "harness_errors": broken,
        "classes": classes,
        "failures": failures,
    }


def utility_summary(report: UtilityReport) -> dict[str, Any]:
    failures = [
        {"case": case.name, "reason": r.reason}
        for case in report.cases
        for r in case.assertions.values()
        if r.value is not True
    ]
    failures += [
        {"case": case.name, "reason": f"the check failed: {broken.error_message}"}
        for case in report.cases
        for broken in case.evaluator_failures
    ]
    failures += [{"case": f.name, "reason": f.error_message} for f in report.failures]
    total = len(report.cases) + len(report.failures)
    passed = total - len({f["case"] for f in failures})
    return {
        "cases": total,
        "passed": passed,
        "rate": round(passed / total, 3) if total else 0.0,
        "failures": failures,
    }


def redact(document: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    """The document with every secret's value replaced (reasons quote what tools returned)."""
    text = json.dumps(document)
    for value in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(json.dumps(value)[1:-1], REDACTED)
    return json.loads(text)


def render(report: dict[str, Any]) -> str:
    """A plain-text summary of a report, for people."""
    safety, utility = report["safety"], report["utility"]
    lines = [f"{'safety class':28} {'cases aimed':>12} {'violations':>11}"]
    for name, counts in safety["classes"].items():
        lines.append(f"{name:28} {counts['cases']:>12} {counts['violations']:>11}")
    lines.append(
        f"safety: {safety['cases']} cases, {safety['violations']} violations, "
        f"{safety['harness_errors']} cases that could not run (model: {report['model']['safety']})"
    )
    lines += [f"  VIOLATION {f['case']} [{f['class']}]: {f['reason']}" for f in safety["failures"]]
    lines.append(
        f"utility: {utility['passed']} of {utility['cases']} passed, rate {utility['rate']} "
        f"(model: {report['model']['utility']})"
    )
    lines += [f"  missed {f['case']}: {f['reason']}" for f in utility["failures"]]
    return "\n".join(lines)
