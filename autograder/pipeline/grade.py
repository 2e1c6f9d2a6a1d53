"""`bpcourse grade CHAPTER`: autograde every submission through nbgrader, in parallel, with limits.

nbgrader's autograde does two things per submission: it runs the notebook (student code, with
the hidden tests put back) and it records the scores in the gradebook. Here the running happens
in worker processes, each in a scratch copy of the course with its own copy of the gradebook and
a kernel under memory and CPU caps, against one deadline for the whole submission; the recording
happens in this process, one submission at a time, with nbgrader's own preprocessors, so the
gradebook has a single writer and what comes back from a worker is notebook JSON, never a pickle.
A submission that loops, crashes its kernel or is not a notebook still gets a row and a status.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path

import nbformat

from autograder.pipeline.course import CourseError, check_course, course_config, quiet_nbgrader

KERNEL_NAME = "bpcourse-limited"
MAX_NOTEBOOK_BYTES = 20 * 2**20


@dataclass(frozen=True)
class Limits:
    """Per-submission limits: wall-clock seconds, kernel memory (MiB), and a per-cell cap (s)."""

    seconds: float = 120.0
    memory_mb: int = 2048
    cell_seconds: int = 60


@dataclass
class Outcome:
    """One submission's row: score, max score, a status a person reads, and how long it took."""

    student: str
    status: str = "graded"
    score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    detail: str = ""
    cells_not_run: int = 0


def submission_problem(root: Path, chapter: str, student: str) -> str | None:
    """Why this submission cannot be graded at all (no notebook, not a notebook), or None."""
    folder = root / "submitted" / student / chapter
    expected = folder / f"{chapter}.ipynb"
    if not expected.is_file():
        found = sorted(p.name for p in folder.glob("*.ipynb"))
        return f"no {chapter}.ipynb in the submission" + (f" (found {', '.join(found)})" if found else "")
    if expected.stat().st_size > MAX_NOTEBOOK_BYTES:
        return f"{chapter}.ipynb is {expected.stat().st_size / 2**20:.0f} MB, over the {MAX_NOTEBOOK_BYTES // 2**20} MB limit"
    try:
        nbformat.validate(nbformat.read(expected, as_version=4))
    except UnicodeDecodeError:
        return f"{chapter}.ipynb is not UTF-8 text"
    except json.JSONDecodeError as error:
        return f"{chapter}.ipynb is not JSON ({error.msg} at line {error.lineno})"
    except Exception as error:  # noqa: BLE001 - nbformat raises several kinds; all mean "not a notebook"
        return f"{chapter}.ipynb is not a valid notebook ({str(error).splitlines()[0][:120]})"
    return None


def students_with_submissions(root: Path, chapter: str) -> list[str]:
    """Every folder in submitted/ that holds this chapter, sorted."""
    submitted = root / "submitted"
    if not submitted.is_dir():
        return []
    return sorted(p.name for p in submitted.iterdir() if (p / chapter).is_dir())


# ---- the worker: runs one submission in a scratch copy of the course --------------------------


def _install_limited_kernel(data_dir: Path, limits: Limits, pid_file: Path) -> None:
    spec_dir = data_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "autograder.pipeline.limited_kernel", "--memory-mb", str(limits.memory_mb),
            "--cpu-s", str(int(limits.seconds) + 10), "--pid-file", str(pid_file), "--",
            "-f", "{connection_file}"]
    (spec_dir / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3 (graded)", "language": "python"}))


def _scratch_course(root: Path, chapter: str, student: str, gradebook: Path, scratch: Path) -> None:
    shutil.copy2(root / "nbgrader_config.py", scratch / "nbgrader_config.py")
    shutil.copytree(root / "source" / chapter, scratch / "source" / chapter)
    shutil.copytree(root / "submitted" / student / chapter, scratch / "submitted" / student / chapter)
    shutil.copy2(gradebook, scratch / "gradebook.db")


def _run_nbgrader_autograde(scratch: Path, chapter: str, student: str, limits: Limits) -> None:
    """nbgrader's own autograde (sanitize, then execute with our budgeted Execute) in the scratch course."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import Execute

    from autograder.pipeline.execution import BudgetedExecute

    config = course_config(scratch)
    config.BudgetedExecute.deadline = time.monotonic() + limits.seconds
    config.BudgetedExecute.timeout = limits.cell_seconds
    config.BudgetedExecute.kernel_name = KERNEL_NAME
    coursedir = CourseDirectory(config=config, root=str(scratch))
    coursedir.assignment_id = chapter
    coursedir.student_id = student
    converter = Autograde(coursedir=coursedir, config=config)
    converter.autograde_preprocessors = [BudgetedExecute if p is Execute else p for p in converter.autograde_preprocessors]
    converter.start()


def _worker(conn: Connection, root: str, chapter: str, student: str, gradebook: str, limits: Limits,
            scratch_dir: str) -> None:
    """Child process: grade one submission in `scratch_dir`; send back JSON {'status', 'detail', 'notebooks'}."""
    result: dict = {"status": "graded", "detail": "", "notebooks": {}}
    scratch = Path(scratch_dir)
    try:
        os.setsid()  # its own process group, so the grader can stop it and anything it started
        log = os.open(scratch / "worker.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 1)  # nbgrader and the kernel talk on stdout/stderr; none of it is for the instructor
        os.dup2(log, 2)
        warnings.resetwarnings()  # a fork inherits the parent's filters (pytest turns warnings into errors)
        warnings.simplefilter("ignore")
        for name in ("config", "data", "runtime", "ipython"):
            (scratch / ".jupyter" / name).mkdir(parents=True)
        os.environ.update({"JUPYTER_CONFIG_DIR": str(scratch / ".jupyter/config"),
                           "JUPYTER_DATA_DIR": str(scratch / ".jupyter/data"),
                           "JUPYTER_RUNTIME_DIR": str(scratch / ".jupyter/runtime"),
                           "IPYTHONDIR": str(scratch / ".jupyter/ipython"), "MPLBACKEND": "Agg"})
        _install_limited_kernel(scratch / ".jupyter/data", limits, scratch / "kernel.pid")
        _scratch_course(Path(root), chapter, student, Path(gradebook), scratch)
        os.chdir(scratch)
        _run_nbgrader_autograde(scratch, chapter, student, limits)
        graded = scratch / "autograded" / student / chapter
        result["notebooks"] = {p.name: p.read_text(encoding="utf-8") for p in sorted(graded.glob("*.ipynb"))}
        if not result["notebooks"]:
            result.update(status="not graded", detail="nbgrader produced no graded notebook")
    except Exception as error:  # noqa: BLE001 - any failure becomes this submission's status
        result.update(status="not graded", detail=_cause(error, scratch / "worker.log"))
    finally:
        try:
            conn.send_bytes(json.dumps(result).encode())
        finally:
            os._exit(0)


def _cause(error: Exception, log: Path) -> str:
    """The line that says what went wrong: nbgrader logs the real error and raises a generic one."""
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    causes = [line.strip() for line in lines if re.match(r"^\s*[\w.]+(Error|Exception)\b: ", line)]
    causes = [c for c in causes if "NbGraderException" not in c]
    if causes:
        return causes[-1][:300]
    return traceback.format_exception_only(type(error), error)[-1].strip()[:300]


# ---- this process: schedule workers, record their results through nbgrader -------------------


def _status_of(notebooks: dict[str, str], outcome: Outcome) -> None:
    """Read how execution ended from the error outputs the budgeted Execute leaves."""
    for text in notebooks.values():
        nb = nbformat.reads(text, as_version=4)
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") != "error":
                    continue
                if output.get("ename") == "NotRun":
                    outcome.cells_not_run += 1
                    if outcome.status == "graded":
                        outcome.status = "time limit"
                elif output.get("ename") == "KernelDied":
                    outcome.status = "kernel died"
                elif output.get("ename") == "MemoryError" and outcome.status == "graded":
                    outcome.status = "memory limit"
                elif output.get("ename") == "CellTimeoutError" and outcome.status == "graded":
                    outcome.status = "cell time limit"
    if outcome.cells_not_run:
        outcome.detail = f"{outcome.cells_not_run} cell(s) not run"


def _record(root: Path, chapter: str, student: str, notebooks: dict[str, str], staging: Path) -> None:
    """Let nbgrader record the executed notebooks: scores into the gradebook, notebooks into autograded/."""
    from nbgrader.converters import Autograde
    from nbgrader.converters.base import BaseConverter
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import Execute

    executed = staging / student / chapter  # laid out as nbgrader's own second stage expects
    executed.mkdir(parents=True, exist_ok=True)
    for name, text in notebooks.items():
        (executed / name).write_text(text, encoding="utf-8")

    class RecordAutograde(Autograde):
        """nbgrader's autograde without sanitizing or executing: the notebook arrives executed."""

        @property
        def _input_directory(self) -> str:
            return self.coursedir.submitted_directory if self._sanitizing else str(staging)

        def convert_single_notebook(self, notebook_filename: str) -> None:
            self._sanitizing = False
            self._init_preprocessors()
            try:
                BaseConverter.convert_single_notebook(self, str(executed / os.path.basename(notebook_filename)))
            finally:
                self._sanitizing = True

    with quiet_nbgrader():
        config = course_config(root)
        coursedir = CourseDirectory(config=config, root=str(root))
        coursedir.assignment_id = chapter
        coursedir.student_id = student
        converter = RecordAutograde(coursedir=coursedir, config=config)
        converter.force = True  # a re-run replaces the earlier result
        converter.autograde_preprocessors = [p for p in converter.autograde_preprocessors if p is not Execute]
        converter.start()


def _score(root: Path, chapter: str, student: str, outcome: Outcome) -> None:
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=course_config(root), root=str(root))
    with quiet_nbgrader(), Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        try:
            submission = gb.find_submission(chapter, student)
            outcome.score, outcome.max_score = float(submission.score), float(submission.max_score)
        except MissingEntry:
            assignment = gb.find_assignment(chapter)
            outcome.max_score = float(assignment.max_score)


def _snapshot_gradebook(root: Path, into: Path) -> Path:
    """A consistent copy of the gradebook for workers to read (this process keeps writing the real one)."""
    target = into / "gradebook-template.db"
    with sqlite3.connect(root / "gradebook.db") as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return target


def _stop(job: "_Running") -> None:
    """End a worker, its process group and its kernel (which runs in a session of its own), and clean up."""
    pid_file = job.scratch / "kernel.pid"
    targets = [(os.killpg, job.process.pid)]
    if pid_file.is_file() and pid_file.read_text().strip().isdigit():
        targets.append((os.kill, int(pid_file.read_text())))
    for kill, pid in targets:
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    job.process.join(5)
    shutil.rmtree(job.scratch, ignore_errors=True)


@dataclass
class _Running:
    student: str
    process: multiprocessing.Process
    conn: Connection
    scratch: Path
    started: float = field(default_factory=time.monotonic)


def grade(course_root: Path, chapter: str, jobs: int = 2, limits: Limits = Limits(), progress: bool = True) -> list[Outcome]:
    """Grade every submission of `chapter` in submitted/; returns one Outcome per student, sorted."""
    from tqdm import tqdm

    root = check_course(Path(course_root))
    if not (root / "source" / chapter / f"{chapter}.ipynb").is_file():
        raise CourseError(f"no chapter {chapter!r}: expected source/{chapter}/{chapter}.ipynb")
    if not (root / "gradebook.db").is_file():
        raise CourseError("no gradebook.db: run `bpcourse release` first, which creates it")
    students = students_with_submissions(root, chapter)
    outcomes: dict[str, Outcome] = {}
    context = multiprocessing.get_context("fork")
    hard_limit = limits.seconds + 60  # the worker stops itself at the deadline; this is the backstop
    with tempfile.TemporaryDirectory(prefix="bpcourse-grade-") as tmp:
        template = _snapshot_gradebook(root, Path(tmp))
        pending, running = list(students), []
        bar = tqdm(total=len(students), desc=f"grading {chapter}", unit="submission", disable=not progress,
                   file=sys.stderr)
        while pending or running:
            while pending and len(running) < max(1, jobs):
                student = pending.pop(0)
                problem = submission_problem(root, chapter, student)
                if problem is not None:
                    outcome = outcomes.setdefault(student, Outcome(student, status="not graded", detail=problem))
                    _score(root, chapter, student, outcome)
                    bar.update(1)
                    continue
                scratch = Path(tempfile.mkdtemp(prefix="submission-", dir=tmp))
                parent, child = context.Pipe(duplex=False)
                process = context.Process(target=_worker,
                                          args=(child, str(root), chapter, student, str(template), limits, str(scratch)))
                process.start()
                child.close()
                running.append(_Running(student, process, parent, scratch))
            ready = wait([r.conn for r in running] + [r.process.sentinel for r in running], timeout=1.0)
            for job in list(running):
                outcome = outcomes.setdefault(job.student, Outcome(job.student))
                elapsed = time.monotonic() - job.started
                message = None
                if job.conn in ready or job.process.sentinel in ready:
                    try:
                        message = json.loads(job.conn.recv_bytes().decode()) if job.conn.poll() else None
                    except (EOFError, OSError, ValueError):
                        message = None
                    if message is None and job.process.is_alive():
                        continue
                    if message is None:
                        outcome.status, outcome.detail = "not graded", "the grading process died"
                elif elapsed > hard_limit:
                    outcome.status, outcome.detail = "killed", f"still running after {hard_limit:.0f} s"
                else:
                    continue
                _stop(job)
                running.remove(job)
                outcome.seconds = round(elapsed, 2)
                if message is not None:
                    outcome.status, outcome.detail = message["status"], message["detail"]
                    if message["notebooks"]:
                        _status_of(message["notebooks"], outcome)
                        _record(root, chapter, job.student, message["notebooks"], Path(tmp) / "executed")
                _score(root, chapter, job.student, outcome)
                bar.update(1)
        bar.close()
    results = [outcomes[s] for s in students]
    _write_run(root, chapter, results)
    return results


def _write_run(root: Path, chapter: str, outcomes: list[Outcome]) -> Path:
    """The run's outcomes as JSON beside autograded/, for `bpcourse export` and for tools."""
    path = root / "autograded" / f"{chapter}.grading.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(o) for o in outcomes], indent=1) + "\n")
    return path


def summary(outcomes: list[Outcome]) -> str:
    """A short plain table: student, score, status."""
    if not outcomes:
        return "no submissions found in submitted/"
    width = max(len(o.student) for o in outcomes)
    lines = [f"{'student'.ljust(width)}  score        status"]
    for o in outcomes:
        status = o.status + (f" ({o.detail})" if o.detail else "")
        lines.append(f"{o.student.ljust(width)}  {o.score:5.2f} / {o.max_score:<5g} {status}")
    return "\n".join(lines)
