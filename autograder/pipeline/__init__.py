"""The grading command: release student versions, grade a class through nbgrader, feedback, export, check."""
