"""Scores decided where a student's code cannot reach them.

A hidden test is `grade("name", globals(), points=P, seed=S)` in a locked cell of the source
notebook. Run inside the student's notebook, a student could make it say anything (patch NumPy or
the grader, print a score, redefine `grade`). So while grading, each hidden-test cell runs a
stub in the student's kernel (nbgrader still executes the notebook, for the feedback), and the
tests themselves run here: the student's code is run again in a process of its own (the answer
cells, the chapter's imports, and the functions and classes the student defined in cells of
their own), and the graders, in this process, call it there and compare what comes back. The
report and the points are then written into the hidden-test cells' outputs, where nbgrader reads
them.
"""
from __future__ import annotations

import ast
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from autograder.calling import GradingStopped
from autograder.isolation.sandbox import without_magics
from autograder.pipeline.notebook_format import is_grade_cell, is_solution_cell

TEST_CELL = "test cell"  # the label of a test cell's place in a student program
CHAPTER_IMPORTS = "the chapter's imports"  # the label of an import from the student version
HIDDEN_TEST_STUB = "# The hidden tests run outside this notebook while it is graded; their results appear here."
# Imports the student's process does not run: display and widgets (no display there), and the grader.
NOT_IMPORTED = ("matplotlib", "ipywidgets", "IPython", "autograder")
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


@dataclass(frozen=True)
class HiddenTest:
    grade_id: str
    name: str
    points: float
    seed: int


@dataclass
class Result:
    """One hidden test's outcome: the report a student reads and the points earned."""

    text: str
    score: float
    stopped: str = ""  # why grading stopped here (time limit, the process ended), or ""


def hidden_tests(source: nbformat.NotebookNode) -> list[HiddenTest]:
    """The source notebook's test cells that are nothing but `grade("name", globals(), points=P, seed=S)`
    (and the import of grade), in order. Any other test cell runs in the student's kernel, as nbgrader runs it."""
    tests = []
    for cell in source.cells:
        if cell.cell_type != "code" or not is_grade_cell(cell) or is_solution_cell(cell):
            continue
        test = _grade_call(cell.metadata["nbgrader"]["grade_id"], cell.source)
        if test is not None:
            tests.append(test)
    return tests


def _grade_call(grade_id: str, source: str) -> HiddenTest | None:
    try:
        body = ast.parse(without_magics(source)).body
    except SyntaxError:
        return None
    calls = [node.value for node in body if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)]
    imports = [node for node in body if isinstance(node, ast.ImportFrom) and node.module == "autograder"
               and [a.name for a in node.names] == ["grade"]]
    if len(calls) != 1 or len(calls) + len(imports) != len(body):
        return None
    call = calls[0]
    if not (isinstance(call.func, ast.Name) and call.func.id == "grade" and len(call.args) == 2):
        return None
    try:
        name = ast.literal_eval(call.args[0])
        keywords = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        return HiddenTest(grade_id, str(name), float(keywords["points"]), int(keywords.get("seed", 0)))
    except (ValueError, KeyError, TypeError):
        return None


def student_program(submission: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(label, source) to run in the student's process: the chapter's imports (from the student version, so a
    student cannot add to them), every answer cell, and of each cell the student added, its definitions, in
    the notebook's order; each test cell is there as (TEST_CELL, its grade_id), so that a test grades the
    student's code as it stood at that cell, as the notebook run top to bottom does."""
    program = []
    for cell in release.cells:
        if cell.cell_type != "code" or is_solution_cell(cell) or is_grade_cell(cell):
            continue
        try:
            tree = ast.parse(without_magics(cell.source))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not _not_imported(node):
                program.append((CHAPTER_IMPORTS, ast.unparse(node)))
    release_ids = {cell.get("id") for cell in release.cells}
    for number, cell in enumerate(submission.cells, 1):
        if cell.cell_type != "code":
            continue
        if is_solution_cell(cell):
            program.append((f"answer cell {cell.metadata['nbgrader'].get('grade_id', number)}", cell.source))
        elif is_grade_cell(cell):
            program.append((TEST_CELL, cell.metadata["nbgrader"].get("grade_id", "")))
        elif "nbgrader" not in cell.metadata and cell.get("id") not in release_ids:
            try:
                tree = ast.parse(without_magics(cell.source))
            except SyntaxError:
                continue
            kept = [node for node in tree.body if isinstance(node, DEFINITIONS) and not _not_imported(node)]
            if kept:
                program.append((f"your cell {number}", "\n\n".join(ast.get_source_segment(without_magics(cell.source), node)
                                                                 or ast.unparse(node) for node in kept)))
    return program


def preloaded(program: list[tuple[str, str]]) -> list[str]:
    """The modules to import in the student's process before its memory floor is read: the chapter's imports, and
    of those its code imports at the top of a cell, the standard library's (another package's import is the
    student's to pay for: it could be the student's own)."""
    modules = []
    for label, source in program:
        if label == TEST_CELL:
            continue
        try:
            tree = ast.parse(without_magics(source))
        except SyntaxError:
            continue
        for node in tree.body:
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            modules += [name for name in names if label == CHAPTER_IMPORTS or name.split(".")[0] in sys.stdlib_module_names]
    return list(dict.fromkeys(modules))


def _not_imported(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] in NOT_IMPORTED for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] in NOT_IMPORTED or bool(node.level)
    return False


def score(program: list[tuple[str, str]], tests: list[HiddenTest], cwd: Path, deadline: float, memory_mb: int,
          test_seconds: float, via: str = "") -> dict[str, Result]:
    """Run the program in a student's process and grade each test against it, by grade_id, when the program
    has run up to the test's cell (or to its end, for a test whose cell it does not hold).

    A test that runs out of time (its own `test_seconds`, or the submission's deadline) or ends the
    process scores 0 and says so; the next test gets a fresh process, which runs the program again."""
    from autograder.calling import keys_of
    from autograder.grading import MEASURES_MEMORY, REFERENCE_CODE, report_for
    from autograder.isolation.resident import FILES_REFUSED, may_be_refused
    from autograder.isolation.remote import StudentProcess

    references = {test.name: keys_of(REFERENCE_CODE.get(test.name, {})) for test in tests}
    gated = {key: name for keys in references.values() for key, name in keys.items()}
    measures_memory = any(test.name in MEASURES_MEMORY for test in tests)

    results: dict[str, Result] = {}
    student = None
    ran = 0  # how much of the program the student's process has run
    errors: list[tuple[str, str]] = []
    places = {source: at for at, (label, source) in enumerate(program) if label == TEST_CELL}
    try:
        for test in tests:
            left = deadline - time.monotonic()
            if left <= 0:
                results[test.grade_id] = Result(f"{test.name}: 0 / {test.points:g} points\n  not graded: the submission's "
                                                "time limit was reached first", 0.0, "time limit")
                continue
            own_limit = True
            try:
                if student is None:
                    student = StudentProcess.start(cwd, memory_mb, int(left) + 5, via, fresh=measures_memory)
                    ran, errors = 0, []
                    student.peer.deadline = time.monotonic() + min(left, test_seconds)
                    if measures_memory:
                        student.tune_allocator()
                    student.withhold(gated)
                    if measures_memory:
                        student.take_memory_floor(preloaded(program))
                upto = places.get(test.grade_id, len(program))
                if upto > ran:
                    cells = [(label, source) for label, source in program[ran:upto] if label != TEST_CELL]
                    errors += student.run(cells, min(left, test_seconds))
                    ran = upto
                own_limit = deadline - time.monotonic() > test_seconds
                student.peer.deadline = time.monotonic() + min(deadline - time.monotonic(), test_seconds)
                student.peer.withheld = set(references[test.name])
                try:
                    report = report_for(test.name, student.namespace(), test.points, test.seed)
                finally:  # another exercise's test must not find this one's references withheld
                    student.peer.withheld = set()
            except GradingStopped as stop:
                timed_out = "time limit" in str(stop)
                reason = ("test time limit" if own_limit else "time limit") if timed_out else "ended"
                message = (f"your code ran past the time limit ({test_seconds:g} s a test)" if reason == "test time limit"
                           else "your code ran past the submission's time limit" if timed_out else
                           "your code ended the process that ran it (os._exit, a crash, or the memory cap)")
                results[test.grade_id] = Result(f"{test.name}: 0 / {test.points:g} points\n  not graded: {message}",
                                                0.0, reason)
                student.close()
                student = None
                continue
            text = report.text()
            failed = [f"{label}: {error}" for label, error in errors]
            if failed and not report.passed:
                text += "\n  note: when your code was run for grading, " + "; ".join(failed[:3])
                if measures_memory and any(may_be_refused(e) for _, e in errors) and FILES_REFUSED not in text:
                    text += f"\n  note: {FILES_REFUSED}"
            results[test.grade_id] = Result(text, report.score)
    finally:
        if student is not None:
            student.close()
    return results


def with_results(notebook: nbformat.NotebookNode, results: dict[str, Result]) -> nbformat.NotebookNode:
    """The executed notebook with each hidden-test cell's outputs replaced by its result: the report, and the
    points as the cell's value (nbgrader's partial credit)."""
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and grade_id in results:
            result = results[grade_id]
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=result.text + "\n"),
                            nbformat.v4.new_output("execute_result", data={"text/plain": repr(result.score)},
                                                   execution_count=cell.get("execution_count"))]
    return notebook


def stub_hidden_tests(gradebook: Path, chapter: str, grade_ids: set[str]) -> None:
    """In a copy of the gradebook: the source of each test cell run here (`grade_ids`) becomes a stub (with its
    checksum), so the student's kernel never holds those tests and nbgrader still finds its cells as it expects."""
    from nbgrader.api import Gradebook
    from nbgrader.utils import compute_checksum

    with Gradebook(f"sqlite:///{gradebook}") as gb:
        assignment = gb.find_assignment(chapter)
        for notebook in assignment.notebooks:
            for cell in notebook.grade_cells:
                if cell.cell_type != "code" or cell.name not in grade_ids:
                    continue
                source = gb.find_source_cell(cell.name, notebook.name, chapter)
                stub = nbformat.v4.new_code_cell(HIDDEN_TEST_STUB)
                stub.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": source.locked,
                                             "grade_id": cell.name, "points": float(cell.max_score)}
                source.source = HIDDEN_TEST_STUB
                source.checksum = compute_checksum(stub)
        gb.db.commit()


def results_as_json(results: dict[str, Result]) -> dict[str, Any]:
    return {grade_id: {"text": r.text, "score": r.score, "stopped": r.stopped} for grade_id, r in results.items()}
