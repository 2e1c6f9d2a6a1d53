"""What makes a source notebook well-formed, and how to make it so.

A source notebook (`source/<chapter>/<chapter>.ipynb`) is code: it is reviewed in diffs and turned
into the student version by nbgrader. The checks here return human-readable problems (an empty list
means the notebook is fine); `fix_source` repairs what can be repaired mechanically (cell ids,
outputs, volatile metadata), so an author fixes a notebook in one command.

Public functions:
- `problems_in_source(path) -> list[str]` and `problems_in_notebook(nb) -> list[str]`
- `normalize(nb) -> nb`: clear outputs and execution counts, drop volatile metadata (in place)
- `assign_cell_ids(nb) -> list[str]`: give stable, readable ids where missing, invalid or repeated
- `fix_source(path) -> list[str]`: both of the above, written back; returns what changed
- `read_notebook(path)`, `notebook_text(nb)`, `write_notebook(nb, path)`: the one reader and the
  one stable serialization (nbformat's default layout), shared with the release
"""
from __future__ import annotations

import functools
import json
import logging
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import nbformat
from nbformat.notebooknode import NotebookNode
from nbformat.reader import reads as _reads_any_version
from nbformat.validator import iter_validate
from nbgrader.nbgraderformat import MetadataValidator, SchemaTooNewError, SchemaTooOldError, ValidationError
from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearSolutions


def _nbgrader_default(cls: type, trait: str) -> str:
    """The default value of one of nbgrader's delimiter settings (so we match what nbgrader matches)."""
    return cls.class_traits()[trait].default_value


# nbgrader treats any line *containing* these words as a marker, in any cell.
BEGIN_SOLUTION = _nbgrader_default(ClearSolutions, "begin_solution_delimeter")
END_SOLUTION = _nbgrader_default(ClearSolutions, "end_solution_delimeter")
BEGIN_HIDDEN = _nbgrader_default(ClearHiddenTests, "begin_test_delimeter")
END_HIDDEN = _nbgrader_default(ClearHiddenTests, "end_test_delimeter")
MARKER_WORDS: tuple[str, ...] = (
    BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN,
    _nbgrader_default(ClearMarkScheme, "begin_mark_scheme_delimeter"),
    _nbgrader_default(ClearMarkScheme, "end_mark_scheme_delimeter"),
)
# The course writes every marker as a whole line of its own, in this one form.
MARKER_PREFIX = "### "

# Written by Jupyter, nbclient or extensions on every run; meaningless once outputs are cleared.
# (`collapsed`, `scrolled`, `jupyter`, `tags`, `editable`, `deletable` are the author's choices: kept.)
VOLATILE_CELL_KEYS = ("execution", "ExecuteTime", "papermill")
VOLATILE_NOTEBOOK_KEYS = ("widgets", "papermill", "vscode")
# language_info is written by whichever kernel ran last; only its version differs between machines.
VOLATILE_LANGUAGE_INFO_KEYS = ("version",)

# The grader runs every notebook in the course's kernel (the Makefile installs it as `python3`).
COURSE_KERNEL = "python3"
FIX_HINT = "`bpcourse validate --fix` repairs this"

_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # nbformat 4.5's pattern and length limit
_quiet = logging.getLogger("autograder.notebook_format")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


# ---------------------------------------------------------------------------------------------
# Reading and writing


class NotebookReadError(ValueError):
    """A file that cannot be read as a notebook at all; str() says why."""


def read_notebook(path: Path) -> NotebookNode:
    """Read `path` without converting or validating it (multi-line strings joined).

    Raises NotebookReadError for unreadable files, invalid JSON and non-notebook JSON.
    """
    return _read(path)[1]


def _read(path: Path) -> tuple[str, NotebookNode]:
    """The file's text and the notebook in it (see `read_notebook`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise NotebookReadError(f"cannot read the file: {err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise NotebookReadError(f"not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}") from None
    if not isinstance(data, dict) or "nbformat" not in data:
        raise NotebookReadError("not a notebook: the JSON has no top-level 'nbformat' field")
    try:
        return text, _reads_any_version(text)
    except Exception as err:  # nbformat raises several kinds here; the message is what matters
        raise NotebookReadError(f"not a readable notebook: {err}") from None


def notebook_text(nb: NotebookNode) -> str:
    """`nb` as nbformat writes it by default: sorted keys, indent 1, a trailing newline."""
    text = nbformat.writes(nb, version=nbformat.NO_CONVERT)
    return text if text.endswith("\n") else text + "\n"


def write_notebook(nb: NotebookNode, path: Path) -> None:
    """Write `nb` to `path` as `notebook_text` gives it (the one writer, so files compare byte for byte)."""
    Path(path).write_text(notebook_text(nb), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Checks


def problems_in_source(path: Path) -> list[str]:
    """Every problem of the source notebook at `path`, as sentences (empty list: well-formed)."""
    try:
        text, nb = _read(path)
    except NotebookReadError as err:
        return [str(err)]
    problems = problems_in_notebook(nb)
    if not problems and text != notebook_text(nb):  # only a well-formed notebook has a standard layout
        problems.append(f"the file is not in nbformat's standard layout (sorted keys, indent 1); {FIX_HINT}")
    return problems


def problems_in_notebook(nb: NotebookNode) -> list[str]:
    """Every problem of a source notebook already read by `read_notebook` (empty list: well-formed).

    Checks, in order: nbformat version (4.5 or later, so cells have ids); cell ids present, valid
    and unique; nbformat's schema; outputs and execution counts cleared and no volatile metadata;
    the kernel; nbgrader metadata (nbgrader's own schema and validator, unique grade ids, locked
    test cells); the markers; plain Python in solution cells.
    """
    major, minor = nb.get("nbformat"), nb.get("nbformat_minor", 0)
    if major != 4:
        return [f"nbformat {major}: the course needs nbformat 4.5 or later"]
    problems: list[str] = []
    if minor < 5:
        problems.append(f"nbformat 4.{minor}: cells have ids only from nbformat 4.5 on; {FIX_HINT}")
    else:
        problems += _id_problems(nb)
    structural = _schema_problems(nb)
    if structural:  # later checks assume a well-formed notebook
        return problems + structural
    for check in (_volatile_problems, _kernel_problems, _nbgrader_problems, _marker_problems, _magic_problems):
        problems += check(nb)
    return problems


def cell_label(index: int, cell: dict[str, Any]) -> str:
    """How problems name a cell: its 1-based position and its id (`cell 3 (id 'relu-test')`)."""
    cell_id = cell.get("id")
    return f"cell {index + 1} (id {cell_id!r})" if cell_id else f"cell {index + 1}"


def _id_problems(nb: NotebookNode) -> list[str]:
    problems = []
    seen: Counter[str] = Counter()
    for index, cell in enumerate(nb.cells):
        cell_id = cell.get("id")
        if cell_id is None:
            problems.append(f"{cell_label(index, cell)}: has no id; {FIX_HINT}")
        elif not isinstance(cell_id, str) or not _CELL_ID.match(cell_id):
            problems.append(f"{cell_label(index, cell)}: id is not 1 to 64 letters, digits, '-' or '_'; {FIX_HINT}")
        else:
            seen[cell_id] += 1
            if seen[cell_id] == 2:
                problems.append(f"{cell_label(index, cell)}: id is used by more than one cell; {FIX_HINT}")
    return problems


def _schema_problems(nb: NotebookNode) -> list[str]:
    """nbformat's schema errors, minus those about ids (reported by `_id_problems` with a fix)."""
    problems = []
    for error in iter_validate(nb):
        path = list(error.relative_path)
        if path[-1:] == ["id"] or error.message == "'id' is a required property":
            continue
        problems.append(f"{_json_location(nb, path)}: {error.message} (nbformat schema)")
    return problems


def _json_location(nb: NotebookNode, path: list[Any]) -> str:
    """`cells/2/outputs/0` -> `cell 3 (id 'x') outputs/0`; anything else -> `notebook <path>`."""
    if len(path) >= 2 and path[0] == "cells" and isinstance(path[1], int) and path[1] < len(nb.get("cells", [])):
        rest = "/".join(str(p) for p in path[2:])
        return cell_label(path[1], nb.cells[path[1]]) + (f" {rest}" if rest else "")
    return "notebook " + ("/".join(str(p) for p in path) or "(top level)")


def _volatile_parts(nb: NotebookNode) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Each volatile piece as (where, the dict that holds it, its key); `normalize` and the check share it."""
    language_info = nb.metadata.get("language_info")
    if isinstance(language_info, dict):
        for key in VOLATILE_LANGUAGE_INFO_KEYS:
            if key in language_info:
                yield "notebook metadata/language_info", language_info, key
    for key in VOLATILE_NOTEBOOK_KEYS:
        if key in nb.metadata:
            yield "notebook metadata", nb.metadata, key
    for index, cell in enumerate(nb.cells):
        for key in VOLATILE_CELL_KEYS:
            if key in cell.metadata:
                yield f"{cell_label(index, cell)} metadata", cell.metadata, key


def _volatile_problems(nb: NotebookNode) -> list[str]:
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"{cell_label(index, cell)}: has outputs; clear them ({FIX_HINT})")
        if cell.get("execution_count") is not None:
            problems.append(f"{cell_label(index, cell)}: execution_count is {cell.execution_count}, not null ({FIX_HINT})")
    for where, _holder, key in _volatile_parts(nb):
        problems.append(f"{where}: volatile key {key!r} (changes on every run; {FIX_HINT})")
    return problems


def _kernel_problems(nb: NotebookNode) -> list[str]:
    kernelspec = nb.metadata.get("kernelspec")
    if kernelspec is None:
        return []  # nbgrader and nbclient then use the default Python kernel
    problems = []
    if kernelspec.get("language", "python") != "python":
        problems.append(f"notebook metadata/kernelspec: language is {kernelspec.get('language')!r}, not 'python'")
    if kernelspec.get("name") != COURSE_KERNEL:
        problems.append(
            f"notebook metadata/kernelspec: kernel name is {kernelspec.get('name')!r}; the grader runs "
            f"{COURSE_KERNEL!r} (pick the course's kernel in Jupyter)")
    return problems


@functools.cache
def _nbgrader_validator() -> MetadataValidator:
    """nbgrader's own metadata validator (schema version 3), with its log warnings silenced."""
    validator = MetadataValidator()
    validator.log = _quiet
    return validator


def _nbgrader_flags(cell: dict[str, Any]) -> dict[str, Any]:
    """The cell's nbgrader metadata, or {} if it has none or it is not a dict."""
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def is_solution_cell(cell: dict[str, Any]) -> bool:
    """Whether nbgrader replaces (part of) this cell with a stub."""
    return _nbgrader_flags(cell).get("solution") is True


def is_grade_cell(cell: dict[str, Any]) -> bool:
    """Whether nbgrader grades this cell (an autograder test cell, or a manually graded answer)."""
    return _nbgrader_flags(cell).get("grade") is True


def _nbgrader_problems(nb: NotebookNode) -> list[str]:
    validator = _nbgrader_validator()
    schema_checker = jsonschema.Draft4Validator(validator.schema)
    problems = []
    grade_ids: Counter[str] = Counter()
    for index, cell in enumerate(nb.cells):
        if "nbgrader" not in cell.metadata:
            continue
        label = cell_label(index, cell)
        meta = cell.metadata.nbgrader
        if not isinstance(meta, dict):
            problems.append(f"{label}: metadata/nbgrader is not an object")
            continue
        # Every schema error at once (nbgrader's validator stops at the first), then nbgrader's
        # own rules beyond the schema (grade_id and points required, markdown answer cells).
        errors = sorted(schema_checker.iter_errors(meta), key=lambda e: list(e.path))
        for error in errors:
            field = "/".join(str(p) for p in error.path)
            problems.append(f"{label}: nbgrader metadata{' ' + field if field else ''}: {error.message}")
        if not errors:
            try:
                validator.validate_cell(cell)
            except (ValidationError, SchemaTooOldError, SchemaTooNewError) as err:
                problems.append(f"{label}: nbgrader metadata: {getattr(err, 'message', err)}")
        if meta.get("cell_type", cell.cell_type) != cell.cell_type:
            problems.append(f"{label}: nbgrader metadata says cell_type {meta['cell_type']!r}, the cell is {cell.cell_type!r}")
        if meta.get("grade") is True and meta.get("solution") is not True and meta.get("locked") is not True:
            problems.append(f"{label}: test cell is not locked (set nbgrader 'locked' to true)")
        if any(meta.get(flag) is True for flag in ("grade", "solution", "locked")) and isinstance(meta.get("grade_id"), str):
            grade_ids[meta["grade_id"]] += 1
            if grade_ids[meta["grade_id"]] == 2:
                problems.append(f"{label}: grade_id {meta['grade_id']!r} is used by more than one cell")
    return problems


def secret_regions(source: str) -> Iterator[tuple[str, int, str]]:
    """The lines of `source` strictly inside solution or hidden-test markers.

    Yields (kind, 1-based line number, line), kind being "solution" or "hidden test". Assumes
    balanced markers (the checks report unbalanced ones); an unclosed region runs to the end.
    """
    kind = None
    for number, line in enumerate(source.split("\n"), start=1):
        if BEGIN_SOLUTION in line:
            kind = "solution"
        elif BEGIN_HIDDEN in line:
            kind = "hidden test"
        elif END_SOLUTION in line or END_HIDDEN in line:
            kind = None
        elif kind is not None:
            yield kind, number, line


def _marker_problems(nb: NotebookNode) -> list[str]:
    problems = []
    pairs = ((BEGIN_SOLUTION, END_SOLUTION, is_solution_cell, "solution"),
             (BEGIN_HIDDEN, END_HIDDEN, is_grade_cell, "grade (test)"))
    for index, cell in enumerate(nb.cells):
        label = cell_label(index, cell)
        lines = cell.source.split("\n")
        for number, line in enumerate(lines, start=1):
            for word in MARKER_WORDS:
                if word in line and line.strip() != MARKER_PREFIX + word:
                    problems.append(
                        f"{label} line {number}: nbgrader reads any line containing {word!r} as a marker; "
                        f"write a marker alone on its line as {MARKER_PREFIX + word!r}, and reword any other mention")
        for begin, end, allowed, cell_kind in pairs:
            used = any(begin in line or end in line for line in lines)
            if used and not allowed(cell):
                problems.append(f"{label}: {begin!r} markers are only allowed in {cell_kind} cells")
            problems += [f"{label} {p}" for p in _balance_problems(lines, begin, end)]
        if cell.cell_type == "code" and is_solution_cell(cell) and not any(BEGIN_SOLUTION in line for line in lines):
            problems.append(
                f"{label}: solution cell has no {MARKER_PREFIX + BEGIN_SOLUTION!r} / {MARKER_PREFIX + END_SOLUTION!r} "
                "pair (nbgrader would replace the whole cell, def line and docstring included)")
    return problems


def _balance_problems(lines: list[str], begin: str, end: str) -> list[str]:
    """Nested, unopened and unclosed `begin`/`end` regions among `lines`."""
    problems, opened_at = [], None
    for number, line in enumerate(lines, start=1):
        if begin in line:
            if opened_at is not None:
                problems.append(f"line {number}: {begin!r} inside the region opened on line {opened_at}")
            opened_at = number
        elif end in line:
            if opened_at is None:
                problems.append(f"line {number}: {end!r} without a {begin!r} before it")
            opened_at = None
    if opened_at is not None:
        problems.append(f"line {opened_at}: {begin!r} is never closed by {end!r}")
    return problems


def _magic_problems(nb: NotebookNode) -> list[str]:
    """Curriculum rule: solution cells are plain Python (no `%magic`, no `!shell` lines)."""
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not is_solution_cell(cell):
            continue
        for number, line in enumerate(cell.source.split("\n"), start=1):
            if line.lstrip().startswith(("%", "!")):
                problems.append(
                    f"{cell_label(index, cell)} line {number}: {line.strip()!r} is IPython syntax; "
                    "solution cells must be plain Python")
    return problems


# ---------------------------------------------------------------------------------------------
# Repairs


def normalize(nb: NotebookNode) -> NotebookNode:
    """Clear outputs and execution counts and drop volatile metadata, in place; returns `nb`."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    for _where, holder, key in list(_volatile_parts(nb)):
        del holder[key]
    return nb


def assign_cell_ids(nb: NotebookNode) -> list[str]:
    """Give every cell without a valid, unique id a stable, readable one, in place.

    The new id is the cell's nbgrader grade_id when it has one, else `cell-<position>` (from 1),
    with `-2`, `-3`, ... appended if taken. Upgrades nbformat 4.0-4.4 to 4.5 (the version with ids).
    Returns the ids assigned.
    """
    nb.nbformat_minor = max(nb.get("nbformat_minor", 0), 5)
    taken: set[str] = set()
    needs_id = []
    for index, cell in enumerate(nb.cells):
        cell_id = cell.get("id")
        if isinstance(cell_id, str) and _CELL_ID.match(cell_id) and cell_id not in taken:
            taken.add(cell_id)
        else:
            needs_id.append(index)
    assigned = []
    for index in needs_id:
        cell = nb.cells[index]
        grade_id = _nbgrader_flags(cell).get("grade_id")
        base = grade_id[:60] if isinstance(grade_id, str) and _CELL_ID.match(grade_id) else f"cell-{index + 1}"
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        cell.id = candidate
        taken.add(candidate)
        assigned.append(candidate)
    return assigned


def fix_source(path: Path) -> list[str]:
    """Repair the source notebook at `path` in place: ids, outputs, volatile metadata.

    Returns what was changed, as short phrases (empty: nothing to do, file untouched). Raises
    NotebookReadError if the file is not a notebook, ValueError if it is not nbformat 4.
    """
    text, nb = _read(path)
    if nb.get("nbformat") != 4:
        raise ValueError(f"nbformat {nb.get('nbformat')}: convert the notebook to nbformat 4 first")
    had_outputs = any(c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None) for c in nb.cells)
    volatile = sorted({key for _where, _holder, key in _volatile_parts(nb)})
    old_minor = nb.get("nbformat_minor", 0)
    assigned = assign_cell_ids(nb)
    normalize(nb)
    changes = []
    if old_minor < 5:
        changes.append(f"nbformat 4.{old_minor} -> 4.5")
    if assigned:
        changes.append(f"{len(assigned)} cell id(s) set ({', '.join(assigned)})")
    if had_outputs:
        changes.append("outputs and execution counts cleared")
    if volatile:
        changes.append(f"volatile metadata dropped ({', '.join(volatile)})")
    new_text = notebook_text(nb)
    if new_text != text:
        changes = changes or ["rewritten in nbformat's standard layout"]
        Path(path).write_text(new_text, encoding="utf-8")
    return changes
