"""What a grader found: one item per graded part (a gradient, an output), and the text a student reads."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Item:
    """One graded part: `name` (e.g. 'dW'), whether it is right, and a one-sentence message."""

    name: str
    correct: bool
    message: str
    weight: float = 1.0


@dataclass
class Report:
    """The result of grading one function: its items, notes (warnings, prints) and the points."""

    function: str
    points: float
    items: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        """Share of the weight earned, in [0, 1]."""
        total = sum(item.weight for item in self.items)
        return 0.0 if total == 0 else sum(item.weight for item in self.items if item.correct) / total

    @property
    def score(self) -> float:
        """Points earned, rounded to 1e-6 so printed scores read cleanly."""
        return round(self.points * self.fraction, 6)

    @property
    def passed(self) -> bool:
        return bool(self.items) and all(item.correct for item in self.items)

    def text(self, with_points: bool = True) -> str:
        """Plain text for a student: a headline, then one line per graded part and note."""
        if with_points:
            headline = f"{self.function}: {self.score:.3g} / {self.points:g} points"
        else:
            right = sum(item.correct for item in self.items)
            headline = f"{self.function}: {right} of {len(self.items)} parts right"
        lines = [headline]
        # Parts with the same verdict and message (a function that raised, say) share one line.
        groups: list[tuple[list[str], Item]] = []
        for item in self.items:
            if groups and (groups[-1][1].correct, groups[-1][1].message) == (item.correct, item.message):
                groups[-1][0].append(item.name)
            else:
                groups.append(([item.name], item))
        width = max((len(", ".join(names)) for names, _ in groups), default=0)
        for names, item in groups:
            mark = "ok " if item.correct else "X  "
            lines.append(f"  {mark}{', '.join(names).ljust(width)}  {item.message}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def first_problem(self) -> str:
        """The first wrong part's message, for an assertion a student sees in one line."""
        for item in self.items:
            if not item.correct:
                return f"{self.function}: {item.name}: {item.message}"
        return f"{self.function}: nothing was graded" if not self.items else ""
