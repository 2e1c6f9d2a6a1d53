"""The course-folder helpers (autograder/pipeline/course.py). The folder checks are exercised by every
pipeline test; here, the Gradebooks of one database sharing one engine while a class is graded."""
from __future__ import annotations

from nbgrader import api
from nbgrader.api import Gradebook

from autograder.pipeline.course import one_engine_per_gradebook
from test_release import project_environment  # noqa: F401 - fixture: the venv's bin on PATH (nbgrader runs alembic)


def test_gradebooks_of_one_database_share_an_engine_only_inside_the_block(tmp_path):
    first, second = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    original = api.create_engine
    with one_engine_per_gradebook():
        with Gradebook(first) as gb:
            gb.add_student("ann")
            engine = gb.engine
        with Gradebook(first) as gb:  # a new Gradebook: same engine, the data written above, its own session
            assert gb.engine is engine
            assert [s.id for s in gb.students] == ["ann"]
        with Gradebook(second) as gb:
            assert gb.engine is not engine and gb.students == []
    assert api.create_engine is original
    with Gradebook(first) as gb, Gradebook(first) as again:
        assert gb.engine is not again.engine
        assert [s.id for s in again.students] == ["ann"]
