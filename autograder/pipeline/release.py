"""Student versions: regenerate `release/<chapter>/` from `source/<chapter>/` through nbgrader, and check them.

Public functions (every `course_root` is a course folder: nbgrader_config.py and source/ in it;
any copy of the course works, nothing here assumes where the repository lives):
- `chapters_in(course_root) -> list[str]`: the folders of source/ that hold `<name>/<name>.ipynb`
- `source_problems(course_root, chapters) -> dict[Path, list[str]]`: notebook_format's verdict per notebook
- `release(course_root, chapters=None) -> list[Path]`: validate, run nbgrader's generate_assignment
  (in this process, forced), normalize what it wrote; returns the files written
- `released_copy(course_root, chapter, dest) -> Path`: a scratch course at dest holding one chapter,
  released there (to grade in, or to bundle)
- `stale_releases(course_root, chapters=None) -> list[str]`: releases that differ from a fresh
  build (made in a temporary folder; the course's release/ is never touched)
- `leaks_in_release(course_root, chapters=None) -> list[str]`: solution or hidden-test lines, or
  marker text, found in a release
Failures that a person must fix raise `CourseError`, whose message is the whole explanation.
"""
from __future__ import annotations

import fnmatch
import logging
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from nbformat.notebooknode import NotebookNode
from nbgrader.converters import GenerateAssignment, NbGraderException
from nbgrader.coursedir import CourseDirectory
from autograder.pipeline import notebook_format as fmt
from autograder.pipeline.course import CONFIG_FILE, CourseError, check_course, course_config

def chapters_in(course_root: Path) -> list[str]:
    """The chapters of the course, sorted: folders `source/<name>/` holding `<name>.ipynb`."""
    source = check_course(course_root) / "source"
    return sorted(d.name for d in source.iterdir() if (d / f"{d.name}.ipynb").is_file())


def _chapters(root: Path, chapters: Iterable[str] | None) -> list[str]:
    """The chapters asked for (all when None), checked to exist, duplicates dropped."""
    known = chapters_in(root)
    if chapters is None:
        return known
    wanted = list(dict.fromkeys(chapters))
    unknown = [c for c in wanted if c not in known]
    if unknown:
        names = ", ".join(repr(c) for c in unknown)
        raise CourseError(
            f"no such chapter: {names} (a chapter is source/<name>/<name>.ipynb; "
            f"this course has: {', '.join(known) or 'none yet'})")
    return wanted


def source_notebooks(course_root: Path, chapter: str) -> list[Path]:
    """The notebooks nbgrader turns into the chapter's release: `source/<chapter>/*.ipynb`."""
    return sorted((Path(course_root) / "source" / chapter).glob("*.ipynb"))


def source_problems(course_root: Path, chapters: Iterable[str] | None = None) -> dict[Path, list[str]]:
    """Every source notebook of the chapters (all when None) and its problems (possibly none)."""
    root = check_course(course_root)
    return {nb: fmt.problems_in_source(nb)
            for chapter in _chapters(root, chapters) for nb in source_notebooks(root, chapter)}


def describe_problems(course_root: Path, problems: dict[Path, list[str]]) -> str:
    """The problems of each faulty notebook, one per line under the notebook's path."""
    lines = []
    for notebook, found in problems.items():
        if found:
            lines.append(f"{notebook.relative_to(course_root)}: {len(found)} problem(s)")
            lines += [f"  - {p}" for p in found]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Release


def release(course_root: Path, chapters: Iterable[str] | None = None, *, gradebook: bool = True) -> list[Path]:
    """Regenerate `release/<chapter>/` from `source/<chapter>/` for the chapters (all when None).

    Refuses (CourseError naming every notebook and problem) before writing anything if a source
    notebook has problems. Runs nbgrader's generate_assignment with force, in this process, with
    the course's own nbgrader_config.py (no user or system config, so every machine builds the
    same files), then rewrites each released notebook normalized in nbformat's layout: an
    unchanged source gives byte-identical files. With `gradebook=False` the gradebook is neither
    created nor updated (nbgrader's --no-db); the files are the same. Returns every file written
    under release/, sorted.
    """
    root = check_course(course_root)
    wanted = _chapters(root, chapters)
    problems = source_problems(root, wanted)
    if any(problems.values()):
        raise CourseError("refusing to release; fix these first:\n" + describe_problems(root, problems))
    if not wanted:
        return []
    _generate(root, wanted, gradebook)
    written = []
    for chapter in wanted:
        for path in sorted(p for p in (root / "release" / chapter).rglob("*") if p.is_file()):
            if path.suffix == ".ipynb":
                fmt.write_notebook(fmt.normalize(fmt.read_notebook(path)), path)
            written.append(path)
    return written


class _Records(logging.Handler):
    """Keeps nbgrader's log records, so a failure can be told in a few lines and success stays quiet."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def errors(self) -> list[str]:
        """Error messages, each traceback cut down to its last line (the exception itself)."""
        messages = []
        for record in self.records:
            if record.levelno >= logging.ERROR:
                lines = [line for line in record.getMessage().strip().splitlines() if line.strip()]
                text = lines[-1] if lines and lines[0].startswith("Traceback") else " ".join(lines)
                if text and text not in messages and not text.startswith("Please see the"):  # we show no traceback
                    messages.append(text)
        return messages


def _generate(root: Path, chapters: list[str], gradebook: bool) -> None:
    """Run nbgrader's GenerateAssignment (force) for each chapter of the course at `root`."""
    config = course_config(root)
    config.CourseDirectory.root = str(root)  # the folder we were given, whatever the config says
    if not gradebook:
        config.GenerateAssignment.no_database = True
        config.SaveCells.enabled = False
    logger = logging.getLogger(f"{__name__}.nbgrader")
    logger.propagate = False  # nbgrader's INFO/WARNING chatter ("Removing existing assignment") stays here
    logger.setLevel(logging.INFO)
    for chapter in chapters:
        records = _Records()
        logger.addHandler(records)
        try:
            coursedir = CourseDirectory(config=config, log=logger)
            coursedir.assignment_id = chapter
            converter = GenerateAssignment(coursedir=coursedir, config=config, log=logger)
            converter.force = True
            converter.start()
        except (NbGraderException, RuntimeError, ValueError) as err:
            details = records.errors() or [str(err)]
            raise CourseError(f"nbgrader could not release {chapter}:\n" + "\n".join(f"  {d}" for d in details)) from None
        finally:
            logger.removeHandler(records)


# ---------------------------------------------------------------------------------------------
# Checks of the released files


# What nbgrader never copies into a release (CourseDirectory.ignore's default), so what running a
# released notebook may leave beside it (checkpoints, bytecode) is no sign of a stale release.
_IGNORED = ("*.pyc", "__pycache__", ".ipynb_checkpoints", "feedback")


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` but the ignored ones, by path relative to it (empty if no folder)."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(fnmatch.fnmatch(part, pattern)
                                       for part in p.relative_to(folder).parts for pattern in _IGNORED)}


def released_copy(course_root: Path, chapter: str, dest: Path, *, gradebook: bool = True) -> Path:
    """A course at `dest` (made here) with `course_root`'s nbgrader_config.py and `chapter`'s source folder,
    released there, with a gradebook unless `gradebook=False`. Returns `dest`."""
    root = check_course(course_root)
    (dest / "source").mkdir(parents=True)
    shutil.copy2(root / CONFIG_FILE, dest / CONFIG_FILE)
    shutil.copytree(root / "source" / chapter, dest / "source" / chapter)
    release(dest, [chapter], gradebook=gradebook)
    return dest


def stale_releases(course_root: Path, chapters: Iterable[str] | None = None) -> list[str]:
    """How the course's release/ differs from a fresh build of the chapters (all when None).

    The fresh build is made from a copy of nbgrader_config.py and the chapters' source folders in
    a temporary folder, without a gradebook; the course itself is only read. Each entry names a
    chapter and a file that is missing, extra or different, or why the chapter cannot be built.
    With all chapters, a release/ folder without a source chapter is reported too.
    """
    root = check_course(course_root)
    wanted = _chapters(root, chapters)
    stale = []
    if chapters is None:
        release_dir = root / "release"
        orphans = sorted(d.name for d in release_dir.iterdir() if d.is_dir()) if release_dir.is_dir() else []
        stale += [f"{name}: release/{name}/ has no source/{name}/{name}.ipynb" for name in orphans if name not in wanted]
    if not wanted:
        return stale
    with tempfile.TemporaryDirectory(prefix="bpcourse-release-") as tmp:
        build = Path(tmp)
        shutil.copy2(root / CONFIG_FILE, build / CONFIG_FILE)
        for chapter in wanted:
            shutil.copytree(root / "source" / chapter, build / "source" / chapter, symlinks=True)
        try:
            release(build, wanted, gradebook=False)
        except CourseError as err:
            return stale + [f"{', '.join(wanted)}: cannot rebuild the release: {err}"]
        for chapter in wanted:
            fresh, current = _files(build / "release" / chapter), _files(root / "release" / chapter)
            where, fix = f"release/{chapter}/", f"(run `bpcourse release {chapter}`)"
            stale += [f"{chapter}: {where}{name} is missing {fix}" for name in fresh if name not in current]
            stale += [f"{chapter}: {where}{name} is not in a fresh build {fix}" for name in current if name not in fresh]
            stale += [f"{chapter}: {where}{name} differs from a fresh build of source/{chapter}/ {fix}"
                      for name in fresh if name in current and fresh[name] != current[name]]
    return stale


# A secret line this short, or a bare keyword, also turns up in honest code: not evidence of a leak.
_TRIVIAL_KEYWORDS = {"else", "try", "finally", "pass", "return", "continue", "break", "raise", "return None"}
_MIN_SECRET_CHARS = 6


def _is_trivial(line: str) -> bool:
    stripped = line.strip()
    return len(re.sub(r"\s", "", stripped)) < _MIN_SECRET_CHARS or stripped.rstrip(":") in _TRIVIAL_KEYWORDS


def secret_lines(nb: NotebookNode) -> dict[str, str]:
    """The non-trivial solution and hidden-test lines of a source notebook, stripped, each with its kind.

    A line that also appears outside every secret region of the notebook is public anyway and left out.
    """
    secret: dict[str, str] = {}
    public: set[str] = set()
    for cell in nb.cells:
        inside = {number for _kind, number, _line in fmt.secret_regions(cell.source)}
        for kind, _number, line in fmt.secret_regions(cell.source):
            if not _is_trivial(line):
                secret.setdefault(line.strip(), kind)
        public |= {line.strip() for number, line in enumerate(cell.source.split("\n"), start=1) if number not in inside}
    return {line: kind for line, kind in secret.items() if line not in public}


def leaks_in_release(course_root: Path, chapters: Iterable[str] | None = None) -> list[str]:
    """Solution lines, hidden-test lines and nbgrader marker text found in the released notebooks.

    Compares each `release/<chapter>/<name>.ipynb` with `source/<chapter>/<name>.ipynb`, line by
    stripped line (see `secret_lines`). A released notebook that is missing or unreadable is reported too.
    """
    root = check_course(course_root)
    leaks = []
    for chapter in _chapters(root, chapters):
        for source in source_notebooks(root, chapter):
            released = root / "release" / chapter / source.name
            where = released.relative_to(root).as_posix()
            try:
                secrets = secret_lines(fmt.read_notebook(source))
                student = fmt.read_notebook(released)
            except fmt.NotebookReadError as err:
                leaks.append(f"{chapter}: cannot check {where}: {err}")
                continue
            for index, cell in enumerate(student.cells):
                for number, line in enumerate(cell.source.split("\n"), start=1):
                    at = f"{chapter}: {where} {fmt.cell_label(index, cell)} line {number}"
                    if line.strip() in secrets:
                        leaks.append(f"{at} shows a {secrets[line.strip()]} line: {line.strip()!r}")
                    leaks += [f"{at} shows nbgrader marker text {word!r}" for word in fmt.MARKER_WORDS if word in line]
    return leaks
