"""nbgrader settings for the course. Every path is relative to this file, so a copy of the
folder grades on its own (its own gradebook, its own exchange)."""
from pathlib import Path

here = Path(__file__).resolve().parent
c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "backprop"
c.CourseDirectory.root = str(here)
c.CourseDirectory.db_url = f"sqlite:///{here / 'gradebook.db'}"
# Inside the project, so the formgrader and exchange work without root.
c.Exchange.root = str(here / "exchange")

# What a student sees in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
