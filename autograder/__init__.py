"""What hidden tests call: the finite-difference oracle and the diagnosis of common mistakes.

    from autograder import grade, check
    grade("linear_backward", globals(), points=3, seed=1234)   # hidden test: returns the score
    check("linear_backward", globals())                        # visible test: raises if wrong
"""
from autograder.grading import check, grade, report_for

__all__ = ["check", "grade", "report_for"]
