"""Grading outside the student's process: what crosses the boundary, and how (see codec.py)."""
