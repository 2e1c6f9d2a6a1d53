"""`bpcourse grade`: every submission gets a row, a score for what ran, and a status that says why.

One small class is graded once (module fixture) on a copy of the fixture course: a correct
submission, an unsolved one, one that raises, one that loops, one whose kernel exits, one that
eats memory, and three that are no notebook at all. Honest submissions must score exactly what
plain `nbgrader autograde` gives them.
"""
from __future__ import annotations

import copy
import dataclasses
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from autograder.pipeline.grade import Limits, grade, summary
from autograder.pipeline.release import release
from test_release import BIN, CHAPTER, make_course, project_environment, snapshot  # noqa: F401 - fixture

LIMITS = Limits(seconds=20, memory_mb=1024, cell_seconds=8)
NOT_UTF8_NAME = os.fsdecode(b"quinn-\xff\xfe")  # a folder name that is not UTF-8
HONEST = ("alice_correct", "bob_unsolved", "carol_raises", "tess_draws")
FIGURE = {"cell_type": "code", "id": "tess-figure", "metadata": {}, "execution_count": None, "outputs": [],
          "source": "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()"}


def _with_body(nb: dict, code: str, prelude: str = "") -> dict:
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if cell.get("id") == "relu-grad-solution":
            cell["source"] = prelude + "def relu_grad(dout, x):\n" + code
    return nb


def _without_cell(nb: dict, cell_id: str) -> dict:
    nb = copy.deepcopy(nb)
    nb["cells"] = [cell for cell in nb["cells"] if cell.get("id") != cell_id]
    return nb


def _with_test(nb: dict, code: str) -> dict:
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if cell.get("id") == "relu-grad-test":
            cell["source"] = code
    return nb


def write_class(root: Path) -> dict[str, str]:
    """Submissions in submitted/, as nbgrader lays them out; returns what each one is."""
    source = json.loads((root / "source" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    student_version = json.loads((root / "release" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    notebooks = {
        "alice_correct": source,
        "bob_unsolved": student_version,
        "carol_raises": _with_body(student_version, "    raise ValueError('not yet')\n"),
        "dave_loops": _with_body(student_version, "    while True:\n        pass\n"),
        "erin_exits": _with_body(student_version, "    import os\n    os._exit(1)\n"),
        "frank_memory": _with_body(student_version, "    import numpy as np\n    return np.ones((400, 1000, 1000))\n"),
        "judy_deletes": _without_cell(source, "relu-grad-test"),
        "kim_edits": _with_test(student_version, "2  # the points, please\n"),
        "lou_floods": _with_body(student_version, "    return dout * (x > 0)\n",
                                 prelude="print(('x' * 999 + '\\n') * 30000)  # 30 MB at once\n"),
        "tess_draws": {**source, "cells": [*source["cells"], FIGURE]},
    }
    for student, nb in notebooks.items():
        folder = root / "submitted" / student / CHAPTER
        folder.mkdir(parents=True)
        (folder / f"{CHAPTER}.ipynb").write_text(json.dumps(nb))
    broken = root / "submitted" / "gina_garbage" / CHAPTER
    broken.mkdir(parents=True)
    (broken / f"{CHAPTER}.ipynb").write_text("this is not json {")
    (root / "submitted" / "hank_empty" / CHAPTER).mkdir(parents=True)
    misnamed = root / "submitted" / "ivy_misnamed" / CHAPTER
    misnamed.mkdir(parents=True)
    (misnamed / "Copy1.ipynb").write_text(json.dumps(source))
    odd = {  # student -> {file name: bytes}
        "mia_nbformat99": {f"{CHAPTER}.ipynb": json.dumps({**source, "nbformat": 99}).encode()},
        "nina_latin1": {f"{CHAPTER}.ipynb": json.dumps(source).encode().replace(b"relu_grad(dout", b"\xe9 relu_grad(dout", 1)},
        NOT_UTF8_NAME: {f"{CHAPTER}.ipynb": json.dumps(source).encode()},
        "oscar_extra_files": {f"{CHAPTER}.ipynb": json.dumps(source).encode(), "helper.py": b"x = 1\n",
                              os.fsdecode(b"notes-\xff.txt"): b"not UTF-8 in the name"},
        "pat_50mb": {f"{CHAPTER}.ipynb": json.dumps({**source, "metadata": {"padding": "x" * 50 * 2**20}}).encode()},
    }
    for student, files in odd.items():
        folder = root / "submitted" / student / CHAPTER
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
    linked = root / "submitted" / "rita_links_the_solution" / CHAPTER
    linked.mkdir(parents=True)
    (linked / f"{CHAPTER}.ipynb").symlink_to(root / "source" / CHAPTER / f"{CHAPTER}.ipynb")
    (root / "submitted" / "sam_links_a_folder").mkdir()
    (root / "submitted" / "sam_links_a_folder" / CHAPTER).symlink_to(root / "submitted" / "alice_correct" / CHAPTER)
    return {s: s.split("_")[1] for s in [*notebooks, "gina_garbage", "hank_empty", "ivy_misnamed"]}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    root = make_course(tmp_path_factory.mktemp("grade") / "course")
    release(root)
    write_class(root)
    before = snapshot(root / "submitted")
    outcomes = grade(root, CHAPTER, jobs=2, limits=LIMITS, progress=False)
    return root, before, {o.student: o for o in outcomes}


EXPECTED = {  # student: (score, status, words in the detail)
    "alice_correct": (2.0, "graded", ""),
    "bob_unsolved": (0.0, "graded", ""),
    "carol_raises": (0.0, "graded", ""),
    "dave_loops": (0.0, "cell time limit", ""),
    "erin_exits": (0.0, "kernel died", ""),
    "frank_memory": (0.0, "memory limit", ""),
    "judy_deletes": (2.0, "graded", "notebook repaired: test cell 'relu-grad-test' was missing: it was put back"),
    "kim_edits": (0.0, "graded", "notebook repaired: test cell 'relu-grad-test' had been edited"),
    "lou_floods": (2.0, "output limit", "the output of 1 cell(s) was cut"),
    "mia_nbformat99": (0.0, "not graded", "is not a valid notebook (Unsupported nbformat version 99)"),
    "nina_latin1": (0.0, "not graded", "is not UTF-8 text"),
    NOT_UTF8_NAME: (0.0, "not graded", "the folder name is not UTF-8 text"),
    "oscar_extra_files": (2.0, "graded", ""),
    "tess_draws": (2.0, "graded", ""),
    "pat_50mb": (0.0, "not graded", "is 50 MB, over the 20 MB limit"),
    "rita_links_the_solution": (0.0, "not graded", "holds a symbolic link (ch00_fixture.ipynb)"),
    "sam_links_a_folder": (0.0, "not graded", "holds a symbolic link (ch00_fixture)"),
    "gina_garbage": (0.0, "not graded", "not a valid notebook"),
    "hank_empty": (0.0, "not graded", "no ch00_fixture.ipynb"),
    "ivy_misnamed": (0.0, "not graded", "found Copy1.ipynb"),
}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_submission_gets_its_score_and_status(graded, student):
    _, _, outcomes = graded
    score, status, detail = EXPECTED[student]
    outcome = outcomes[student]
    assert (outcome.score, outcome.max_score, outcome.status) == (score, 2.0, status), outcome
    assert detail in outcome.detail


def test_one_row_per_submission_in_the_run_record_and_the_summary(graded):
    root, _, outcomes = graded
    rows = json.loads((root / "autograded" / f"{CHAPTER}.grading.json").read_text())
    assert sorted(r["student"] for r in rows) == sorted(EXPECTED)
    table = summary(list(outcomes.values()))
    assert len(table.splitlines()) == len(EXPECTED) + 1 and "kernel died" in table


def test_submissions_are_left_untouched(graded):
    root, before, _ = graded
    assert snapshot(root / "submitted") == before


def test_a_flood_of_output_is_cut_in_the_graded_notebook(graded):
    root, _, _ = graded
    graded_nb = root / "autograded" / "lou_floods" / CHAPTER / f"{CHAPTER}.ipynb"
    assert graded_nb.stat().st_size < 3 * 2**20  # 2 MB of the 30 printed, and the rest of the notebook
    assert "[output cut: this cell printed more than 2 MB; the rest was dropped]" in graded_nb.read_text()


def test_loops_cost_the_cell_limit_not_more(graded):
    _, _, outcomes = graded
    assert outcomes["dave_loops"].seconds < LIMITS.seconds + 15


def test_honest_scores_equal_plain_nbgrader_autograde(graded, tmp_path):
    root, _, outcomes = graded
    plain = Path(shutil.copytree(root, tmp_path / "plain", ignore=shutil.ignore_patterns("autograded", "gradebook.db")))
    for student in set(EXPECTED) - set(HONEST):
        shutil.rmtree(plain / "submitted" / student)
    release(plain)
    run = subprocess.run([str(BIN / "nbgrader"), "autograde", CHAPTER], cwd=plain, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{plain / 'gradebook.db'}", "backprop") as gb:
        plain_scores = {s: gb.find_submission(CHAPTER, s).score for s in HONEST}
    assert plain_scores == {s: outcomes[s].score for s in HONEST}
    assert plain_scores["alice_correct"] == 2.0


def _figure_outputs(root: Path) -> list[dict]:
    graded_nb = json.loads((root / "autograded" / "tess_draws" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    return [o.get("data", {}) for c in graded_nb["cells"] if c.get("id") == "tess-figure" for o in c["outputs"]]


def test_a_figure_is_described_not_drawn_unless_asked_for(graded, tmp_path):
    root, _, _ = graded
    (undrawn,) = _figure_outputs(root)
    assert "image/png" not in undrawn and "<Figure size" in "".join(undrawn["text/plain"])
    alone = Path(shutil.copytree(root, tmp_path / "alone", ignore=shutil.ignore_patterns("autograded", "gradebook.db")))
    for student in {p.name for p in (alone / "submitted").iterdir()} - {"tess_draws"}:
        shutil.rmtree(alone / "submitted" / student)
    release(alone)
    (outcome,) = grade(alone, CHAPTER, jobs=1, limits=dataclasses.replace(LIMITS, figures=True), progress=False)
    assert (outcome.score, outcome.status) == (2.0, "graded")
    (drawn,) = _figure_outputs(alone)
    assert drawn["image/png"]


def test_a_rerun_with_one_job_gives_the_same_scores(graded):
    root, _, outcomes = graded
    again = {o.student: o for o in grade(root, CHAPTER, jobs=1, limits=LIMITS, progress=False)}
    assert {s: (o.score, o.status) for s, o in again.items()} == {s: (o.score, o.status) for s, o in outcomes.items()}


# ---------------------------------------------------------------------------------------------
# feedback and export, on the class graded above


def visible_text(page: Path) -> str:
    """What a reader of the HTML sees: tags (syntax highlighting splits code into spans) and entities gone."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def hidden_lines(root: Path) -> list[str]:
    import nbformat

    from autograder.pipeline.release import secret_lines

    source = nbformat.read(root / "source" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    return [line for line, kind in secret_lines(source).items() if kind == "hidden test"]


def test_feedback_shows_reports_and_points_but_no_hidden_test_source(graded):
    from autograder.pipeline.feedback import feedback

    root, _, outcomes = graded
    pages = feedback(root, CHAPTER)
    graded_students = {s for s, o in outcomes.items() if o.status != "not graded"}
    assert {p.parts[-3] for p in pages} == graded_students
    hidden = hidden_lines(root)
    assert hidden, "the fixture should have hidden tests to hide"
    for page in pages:
        text = visible_text(page)
        for line in hidden:
            assert line not in text, f"{page}: shows the hidden test line {line!r}"
    alice = visible_text(root / "feedback" / "alice_correct" / CHAPTER / f"{CHAPTER}.html")
    assert "2.0 / 2.0" in alice and "mask = x > 0" in alice  # her own solution is hers to see
    judy = visible_text(root / "feedback" / "judy_deletes" / CHAPTER / f"{CHAPTER}.html")
    assert "Grading note." in judy and "test cell 'relu-grad-test' was missing: it was put back" in judy
    assert "Grading note." not in alice


def test_plain_nbgrader_feedback_would_show_them(graded, tmp_path):
    """The check above can fail: nbgrader's own feedback shows the hidden tests."""
    root, _, _ = graded
    course = Path(shutil.copytree(root, tmp_path / "course", ignore=shutil.ignore_patterns("feedback")))
    run = subprocess.run([str(BIN / "nbgrader"), "generate_feedback", CHAPTER, "--student", "alice_correct"],
                         cwd=course, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    text = visible_text(course / "feedback" / "alice_correct" / CHAPTER / f"{CHAPTER}.html")
    assert any(line in text for line in hidden_lines(course))


def test_export_has_one_row_per_student_with_score_and_status(graded):
    from autograder.pipeline.export import COLUMNS, export_rows, to_csv

    root, _, outcomes = graded
    rows = export_rows(root)
    shown = {os.fsencode(s).decode("utf-8", "backslashreplace"): s for s in EXPECTED}
    assert sorted(r["student"] for r in rows) == sorted(shown) and "quinn-\\xff\\xfe" in shown
    for row in rows:
        outcome = outcomes[shown[row["student"]]]
        assert (row["chapter"], row["score"], row["max_score"], row["status"]) == (CHAPTER, outcome.score, 2.0, outcome.status)
    text = to_csv(rows)
    assert text.splitlines()[0] == ",".join(COLUMNS) and len(text.splitlines()) == len(EXPECTED) + 1
    text.encode("utf-8")  # every row can be written out


def test_the_scratch_copy_holds_the_chapter_data_but_no_source_notebook(graded, tmp_path):
    from autograder.pipeline.grade import _scratch_course

    root, _, _ = graded
    _scratch_course(root, CHAPTER, "alice_correct", root / "gradebook.db", tmp_path)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["gradebook.db", "nbgrader_config.py", f"source/{CHAPTER}/data/toy.csv",
                     f"submitted/alice_correct/{CHAPTER}/{CHAPTER}.ipynb"]


def test_the_kernels_report_sums_what_every_ended_kernel_had_refused(tmp_path: Path):
    """Two kernels started and ended (one counted nothing: no cgroup), a line that is not ours: the sum of
    the counts. A kernel that never ends is waited for only up to the wait."""
    import threading
    import time

    from autograder.pipeline.grade import _refused_tasks

    report = tmp_path / "kernels.jsonl"
    assert _refused_tasks(report, wait=0.1) == 0  # no kernel started
    report.write_text('{"kernel": 11}\n{"kernel": 12}\nnot json\n{"ended": 11, "refused": 7}\n')

    def ends_later():
        time.sleep(0.3)
        with open(report, "a") as handle:
            handle.write('{"ended": 12, "refused": null}\n{"ended": 99, "refused": 5}\n')

    writer = threading.Thread(target=ends_later)
    writer.start()
    assert _refused_tasks(report, wait=10) == 12  # waited for kernel 12; 99, whose start was not noted, still counts
    writer.join()
    report.write_text('{"kernel": 11}\n{"kernel": 13}\n{"ended": 11, "refused": 3}\n')
    started = time.monotonic()
    assert _refused_tasks(report, wait=0.5) == 3
    assert 0.5 <= time.monotonic() - started < 5
