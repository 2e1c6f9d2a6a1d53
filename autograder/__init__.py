"""What hidden tests call: the finite-difference oracle and the diagnosis of common mistakes.

    from autograder import grade, check
    grade("linear_backward", globals(), points=3, seed=1234)   # hidden test: returns the score
    check("linear_backward", globals())                        # visible test: raises if wrong

The names are imported on first use, so a process that needs only a part of the package (the
process that holds a student's code while it is graded) does not load the graders and the
reference package with it.
"""
from typing import Any

__all__ = ["check", "grade", "report_for"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from autograder import grading

        return getattr(grading, name)
    raise AttributeError(f"module 'autograder' has no attribute {name!r}")
