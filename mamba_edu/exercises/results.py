"""The outcome of a question: per-case results, points, and the feedback text a student reads."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PASS, FAIL = "\u2713", "\u2717"


def _num(x: float) -> str:
    return f"{x:g}"


@dataclass
class CaseResult:
    name: str
    status: str           #: "pass", "fail", "not attempted", "time limit", "not run"
    message: str = ""
    hint: str | None = None


@dataclass
class CheckResult:
    question: str
    assignment: str
    title: str
    max_points: float
    cases: list[CaseResult]
    status: str           #: "passed", "partial", "failed", "not attempted", "missing", "time limit", "error"
    note: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(c.status == "pass" for c in self.cases)

    @property
    def total(self) -> int:
        return len(self.cases)

    @property
    def points(self) -> float:
        if not self.cases or self.status in ("missing", "error"):
            return 0.0
        return round(self.max_points * self.passed / self.total, 2)

    def _case_lines(self, passed_cases: bool) -> list[str]:
        lines: list[str] = []
        hints: list[str] = []
        shown: set[str] = set()
        for c in self.cases:
            if c.status == "pass":
                if passed_cases:
                    lines.append(f"  {PASS} {c.name}")
                continue
            mark = FAIL if c.status != "not run" else "-"
            lines.append(f"  {mark} {c.name}" + (f" [{c.status}]" if c.status in ("time limit", "not run") else ""))
            if c.message in shown:
                lines.append("      (same problem as above)")
            elif c.message:
                shown.add(c.message)
                lines.extend("      " + part for part in c.message.splitlines())
            if c.hint and c.hint not in hints:
                hints.append(c.hint)
        return lines + [f"  Hint: {h}" for h in hints]

    def feedback(self, passed_cases: bool = True) -> str:
        head = (f"[{self.question}] {self.title}: {self.passed}/{self.total} cases passed, "
                f"{_num(self.points)}/{_num(self.max_points)} points")
        lines = [head]
        if self.note:
            lines.append(f"  {self.note}")
        if self.status == "not attempted":
            lines.append("  Fill in the TODO (replace the `raise NotImplementedError(...)` line) and run this check "
                         "again.")
            return "\n".join(lines)
        return "\n".join(lines + self._case_lines(passed_cases))

    def as_dict(self) -> dict[str, Any]:
        return {"question": self.question, "assignment": self.assignment, "title": self.title,
                "points": self.points, "max_points": self.max_points, "passed": self.passed, "total": self.total,
                "status": self.status, "seconds": round(self.seconds, 3), "feedback": self.feedback(passed_cases=False)}


def not_graded(question, why: str) -> dict[str, Any]:
    """The row of a question that could not be checked (``why`` says what stopped it): 0 points."""
    return {"question": question.id, "assignment": question.assignment, "title": question.title, "points": 0.0,
            "max_points": question.points, "passed": 0, "total": 0, "status": "not graded", "seconds": 0.0,
            "feedback": f"[{question.id}] {question.title}: 0/{question.points:g} points ({why})"}
