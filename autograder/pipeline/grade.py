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

import ast
import functools
import gc
import json
import multiprocessing
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Iterator

import nbformat

from autograder.pipeline.course import CourseError, check_course, course_config, one_engine_per_gradebook, quiet_nbgrader
from autograder.pipeline.execution import OUTPUT_CUT
from autograder.isolation.remote import ONE_BLAS_THREAD
from autograder.isolation.sandbox import without_magics
from autograder.pipeline import scoring
from autograder.pipeline.limited_kernel import die_with_parent

KERNEL_NAME = "bpcourse-limited"
MAX_NOTEBOOK_BYTES = 20 * 2**20
LIMITED_KERNEL = Path(__file__).with_name("limited_kernel.py")  # run by path: it needs no package import
# What the kernel server imports once for every kernel of a run (see limited_kernel.py): ipykernel's
# own modules, and those of the chapter's imports that come from these packages, whose import
# does nothing but define things (ipywidgets' hook into IPython is replayed in each kernel).
KERNEL_PRELOAD = ("ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger", "autograder.isolation.sandbox")
PRELOADABLE_PACKAGES = ("numpy", "matplotlib", "ipywidgets", "IPython", "backprop", "autograder")


@dataclass(frozen=True)
class Limits:
    """Per-submission limits: wall-clock seconds, kernel memory (MiB), a per-cell cap (s), and the processes and
    threads a kernel or student process may have at once (enforced in the jail: see `isolation_problem`); and
    whether the kernel draws the notebook's figures (`figures`)."""

    seconds: float = 120.0
    memory_mb: int = 2048
    cell_seconds: int = 60
    processes: int = 64
    # Drawing figures is most of a chapter's run time, and no test reads a picture: off, a graded notebook shows
    # each figure as its one-line description ("<Figure size 585x288 with 1 Axes>").
    figures: bool = False


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
    cells_cut: int = 0
    repairs: list[str] = field(default_factory=list)  # what was put back in the notebook before grading


def shown_id(student: str) -> str:
    """A student id as text a person or a CSV file can take: bytes of a folder name that are not UTF-8
    are shown as \\xNN escapes."""
    return os.fsencode(student).decode("utf-8", "backslashreplace")


def submission_problem(root: Path, chapter: str, student: str) -> str | None:
    """Why this submission cannot be graded at all (no notebook, not a notebook), or None."""
    if shown_id(student) != student:
        return "the folder name is not UTF-8 text, which the gradebook cannot record: rename the folder"
    folder = root / "submitted" / student / chapter
    links = [p for p in (root / "submitted" / student, folder, *folder.rglob("*")) if p.is_symlink()]
    if links:  # a link could hand in any file the grader can read: another's work, the solutions
        return f"the submission holds a symbolic link ({shown_id(links[0].name)}); hand in files, not links"
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


# IPython's inline backend with no image format: a figure is shown as its text description and never drawn.
NO_FIGURES = "--IPKernelApp.exec_lines=%config InlineBackend.figure_formats = set()"


def _kernel_limit_args(limits: Limits) -> list[str]:
    return ["--memory-mb", str(limits.memory_mb), "--cpu-s", str(int(limits.seconds) + 10)]


def _install_limited_kernel(data_dir: Path, limits: Limits, server: str = "", report: Path | None = None) -> None:
    """The kernelspec nbgrader starts: the limited kernel, from the kernel server when there is one (its
    stand-in and the server then note in `report` each kernel and what its process cap refused)."""
    spec_dir = data_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(LIMITED_KERNEL), *_kernel_limit_args(limits),
            *(["--via", server, *(["--report", str(report)] if report else [])] if server else []),
            "--", "-f", "{connection_file}",
            *([] if limits.figures else [NO_FIGURES])]
    (spec_dir / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3 (graded)", "language": "python"}))


def _scratch_course(root: Path, chapter: str, student: str, gradebook: Path, scratch: Path) -> None:
    """The course as nbgrader needs it to grade one submission: the chapter's data files but not its source
    notebook (nbgrader takes the locked cells from the gradebook), and this submission only."""
    shutil.copy2(root / "nbgrader_config.py", scratch / "nbgrader_config.py")
    shutil.copytree(root / "source" / chapter, scratch / "source" / chapter, ignore=shutil.ignore_patterns("*.ipynb"))
    shutil.copytree(root / "submitted" / student / chapter, scratch / "submitted" / student / chapter)
    shutil.copy2(gradebook, scratch / "gradebook.db")


def _run_nbgrader_autograde(scratch: Path, chapter: str, student: str, limits: Limits, deadline: float) -> None:
    """nbgrader's own autograde (sanitize, then execute with our budgeted Execute) in the scratch course."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import Execute

    from autograder.pipeline.execution import BudgetedExecute

    config = course_config(scratch)
    config.BudgetedExecute.deadline = deadline
    config.BudgetedExecute.timeout = limits.cell_seconds
    config.BudgetedExecute.kernel_name = KERNEL_NAME
    # Unix sockets in the scratch folder's runtime folder, not ports on 127.0.0.1: a jailed kernel then has no
    # network at all, so it cannot reach another student's kernel.
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(scratch / ".jupyter" / "runtime" / "kernel")  # the sockets' names start so
    coursedir = CourseDirectory(config=config, root=str(scratch))
    coursedir.assignment_id = chapter
    coursedir.student_id = student
    converter = Autograde(coursedir=coursedir, config=config)
    converter.autograde_preprocessors = [BudgetedExecute for p in converter.autograde_preprocessors if p is Execute]
    converter.start()


GRADING_NOTE_ID = "bpcourse-grading-note"
# How a kernel that reached the process cap fails: Python's thread and fork errors, zmq's.
PROCESS_LIMIT_HIT = re.compile(r"can't start new thread|Resource temporarily unavailable|BlockingIOError")


@dataclass(frozen=True)
class _Chapter:
    """What every worker of a run needs of the chapter, read once before the first fork: the student version
    (authoritative for the assignment cells) and the hidden tests that run outside the kernel."""

    release: nbformat.NotebookNode
    tests: list[scoring.HiddenTest]

    @classmethod
    def read(cls, root: Path, chapter: str) -> "_Chapter":
        source = nbformat.read(root / "source" / chapter / f"{chapter}.ipynb", as_version=4)
        return cls(nbformat.read(root / "release" / chapter / f"{chapter}.ipynb", as_version=4),
                   scoring.hidden_tests(source))


def _restore_structure(path: Path, release: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[str]]:
    """Put the submission's nbgrader cells back as the student version has them (structure.py), in the
    scratch copy; a Markdown note at the top of the graded notebook says what was repaired. Returns the
    notebook as it will be graded, and the repairs."""
    from autograder.pipeline.structure import restore_structure

    restored, repairs = restore_structure(nbformat.read(path, as_version=4), release)
    if repairs:
        note = nbformat.v4.new_markdown_cell("**Grading note.** Before your notebook was graded:\n\n" +
                                             "\n".join(f"- {r}" for r in repairs))
        note["id"] = GRADING_NOTE_ID
        restored.cells.insert(0, note)
        nbformat.write(restored, path)
    return restored, repairs


def _score_outside(submission: nbformat.NotebookNode, material: _Chapter, scratch: Path, limits: Limits,
                   deadline: float, server: str) -> dict[str, scoring.Result]:
    """The hidden tests, run here against the student's code in a process of its own (scoring.py)."""
    work = scratch / "graded-code"
    work.mkdir()
    program = scoring.student_program(submission, material.release)
    return scoring.score(program, material.tests, work, deadline, limits.memory_mb, limits.cell_seconds, server)


def _worker(conn: Connection, root: str, chapter: str, student: str, gradebook: str, limits: Limits,
            scratch_dir: str, material: _Chapter, server: str = "") -> None:
    """Child process: grade one submission in `scratch_dir`; send back JSON {'status', 'detail', 'notebooks',
    'repairs', 'stopped'}."""
    result: dict = {"status": "graded", "detail": "", "notebooks": {}, "repairs": [], "stopped": []}
    scratch = Path(scratch_dir)
    deadline = time.monotonic() + limits.seconds
    try:
        os.setsid()  # its own process group, so the grader can stop it and anything it started
        die_with_parent()  # a grader (or a cluster's worker) that dies takes its submission's run with it
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
        kernels_report = scratch / "kernels.jsonl"  # outside the kernel's jail
        _install_limited_kernel(scratch / ".jupyter/data", limits, server, kernels_report)
        _scratch_course(Path(root), chapter, student, Path(gradebook), scratch)
        submitted = scratch / "submitted" / student / chapter / f"{chapter}.ipynb"
        restored, result["repairs"] = _restore_structure(submitted, material.release)
        scores = _score_outside(restored, material, scratch, limits, deadline, server)
        result["stopped"] = sorted({r.stopped for r in scores.values() if r.stopped})
        os.chdir(scratch)
        try:
            _run_nbgrader_autograde(scratch, chapter, student, limits, deadline)
        except Exception as error:  # noqa: BLE001 - the notebook broke nbgrader's run; its hidden tests still count
            cause = _cause(error, scratch / "worker.log")
            if PROCESS_LIMIT_HIT.search(cause):
                result.update(status="process limit", detail=f"your code started more than {limits.processes} "
                              f"processes and threads, so its kernel could not go on ({cause})")
            else:
                result.update(status="kernel died", detail="the notebook could not be run to the end: " + cause)
        refused = _refused_tasks(kernels_report)
        if refused and result["status"] == "graded":  # a fork bomb that caught its errors
            result.update(status="process limit", detail=f"your code reached the cap of {limits.processes} processes "
                          f"and threads: {refused} fork(s) or thread(s) were refused")
        graded = sorted((scratch / "autograded" / student / chapter).glob("*.ipynb"))
        if not graded and scores:  # nothing executed: the submission as handed in, with the hidden tests' results
            graded = [submitted]
        result["notebooks"] = {p.name: nbformat.writes(scoring.with_results(nbformat.read(p, as_version=4), scores))
                               for p in graded}
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


def _chapter_preload(root: Path, chapter: str) -> list[str]:
    """What the kernel server imports: KERNEL_PRELOAD, and the chapter's imports from PRELOADABLE_PACKAGES."""
    names = list(KERNEL_PRELOAD)
    for path in sorted((root / "source" / chapter).glob("*.ipynb")):
        try:
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        except (OSError, ValueError):
            continue
        for cell in cells:
            if cell.get("cell_type") != "code":
                continue
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            try:
                tree = ast.parse(without_magics(source))
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names += [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names += [node.module, *(f"{node.module}.{a.name}" for a in node.names if a.name != "*")]
    return [n for n in dict.fromkeys(names) if n in KERNEL_PRELOAD or n.split(".")[0] in PRELOADABLE_PACKAGES]


@functools.cache
def isolation_problem() -> str | None:
    """Why student code runs without a jail here (autograder/isolation/jail.py), or None when it is jailed:
    then it sees only its own submission, runs as a uid of its own, and has the process cap."""
    from autograder.isolation.jail import problem

    return problem()


def _jails(limits: Limits) -> bool:
    """Whether student code runs in jails in this run (it must then never run outside one)."""
    return bool(limits.processes) and isolation_problem() is None


def _tail(log: Path, size: int = 600) -> str:
    try:
        return log.read_text(errors="replace")[-size:].strip() or "nothing"
    except OSError:
        return "nothing"


def _start_kernel_server(folder: Path, limits: Limits, preload: list[str]) -> subprocess.Popen | None:
    """The kernel server (limited_kernel.py --serve), listening on folder/kernels.sock; None if it cannot start.

    Its environment is what a worker gives its kernels where it matters at import time (MPLBACKEND, one
    BLAS thread: the jobs share the cores, and a thread count of its own would count against the process
    cap); Jupyter's folders are its own. It jails what it starts when this machine can. Closing its stdin
    ends it and every kernel it started.
    """
    for name in ("config", "data", "runtime", "ipython"):
        (folder / ".jupyter" / name).mkdir(parents=True)
    env = dict(os.environ, MPLBACKEND="Agg", JUPYTER_CONFIG_DIR=str(folder / ".jupyter/config"),
               JUPYTER_DATA_DIR=str(folder / ".jupyter/data"), JUPYTER_RUNTIME_DIR=str(folder / ".jupyter/runtime"),
               IPYTHONDIR=str(folder / ".jupyter/ipython"), **ONE_BLAS_THREAD)
    jail = []
    if _jails(limits):
        (folder / "jail").mkdir()
        jail = ["--processes", str(limits.processes), "--jail-root", str(folder / "jail")]
    with open(folder / "server.log", "wb") as log:
        try:
            return subprocess.Popen([sys.executable, str(LIMITED_KERNEL), "--serve", str(folder / "kernels.sock"),
                                     *_kernel_limit_args(limits), "--preload", ",".join(preload), *jail],
                                    stdin=subprocess.PIPE, stdout=log, stderr=log, cwd=folder, env=env)
        except OSError:
            return None


def _kernel_server_ready(process: subprocess.Popen | None, socket_path: Path, timeout: float = 60.0) -> bool:
    """Wait until the server listens (False if it died or is too slow: workers then start kernels the plain way)."""
    deadline = time.monotonic() + timeout
    while process is not None and process.poll() is None and time.monotonic() < deadline:
        if socket_path.exists():
            return True
        time.sleep(0.02)
    return False


def _stop_kernel_server(process: subprocess.Popen | None) -> None:
    if process is None:
        return
    try:
        process.stdin.close()
        process.wait(10)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()


def _prepare_workers() -> None:
    """Import, once and before the first fork, what every worker needs: workers inherit it."""
    import IPython.paths  # noqa: F401 - jupyter_client imports it to find kernelspecs: 0.1 s a worker otherwise
    from jupyter_client.provisioning import KernelProvisionerFactory
    from nbgrader.converters import Autograde  # noqa: F401
    from nbgrader.preprocessors import Execute  # noqa: F401

    from autograder.pipeline.execution import BudgetedExecute  # noqa: F401

    KernelProvisionerFactory.instance()  # reads every installed package's entry points: once, here



def _refused_tasks(report: Path, wait: float = 10.0) -> int:
    """The forks and threads the kernels' process caps refused, from the kernels' report (limited_kernel.py):
    it waits up to `wait` seconds for the server to note the end of every kernel the stand-ins started."""
    deadline = time.monotonic() + wait
    while True:
        started, refused = set(), {}
        try:
            lines = report.read_text().splitlines()
        except OSError:
            lines = []
        for line in lines:
            try:
                note = json.loads(line)
            except ValueError:
                continue
            if isinstance(note.get("kernel"), int):
                started.add(note["kernel"])
            elif isinstance(note.get("ended"), int):
                refused[note["ended"]] = note.get("refused") if isinstance(note.get("refused"), int) else 0
        if started <= refused.keys() or time.monotonic() > deadline:
            return sum(refused.values())
        time.sleep(0.05)


def _status_of(notebooks: dict[str, str], outcome: Outcome) -> None:
    """Read how execution ended from the error outputs and output cuts the budgeted Execute leaves."""
    for text in notebooks.values():
        for cell in json.loads(text).get("cells", []):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and OUTPUT_CUT in str(output.get("text", "")):
                    outcome.cells_cut += 1
                    if outcome.status == "graded":
                        outcome.status = "output limit"
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
                elif PROCESS_LIMIT_HIT.search(f"{output.get('ename')}: {output.get('evalue')}") and outcome.status == "graded":
                    outcome.status = "process limit"
                    outcome.detail = "; ".join(filter(None, [outcome.detail, "your code reached the cap on processes and "
                                                            "threads: a fork or a thread was refused"]))
                elif output.get("ename") == "CellTimeoutError" and outcome.status == "graded":
                    outcome.status = "cell time limit"
    parts = [outcome.detail] if outcome.detail else []
    if outcome.cells_not_run:
        parts.append(f"{outcome.cells_not_run} cell(s) not run")
    if outcome.cells_cut:
        parts.append(f"the output of {outcome.cells_cut} cell(s) was cut")
    if outcome.repairs:
        more = f" (+{len(outcome.repairs) - 1} more)" if len(outcome.repairs) > 1 else ""
        parts.append(f"notebook repaired: {outcome.repairs[0]}{more}")
    outcome.detail = "; ".join(parts)


def _status_of_hidden_tests(stopped: list[str], outcome: Outcome) -> None:
    """A hidden test that could not finish names the limit, unless the notebook's run already named one."""
    if outcome.status != "graded" or not stopped:
        return
    for reason, status, what in (("time limit", "time limit", "the submission's time ran out during the hidden tests"),
                                 ("test time limit", "cell time limit", "a hidden test ran past its time limit"),
                                 ("ended", "kernel died", "your code ended the process that ran the hidden tests")):
        if reason in stopped:
            outcome.status = status
            outcome.detail = "; ".join(filter(None, [outcome.detail, what]))
            return


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
        except (MissingEntry, UnicodeEncodeError):  # not recorded (a folder name that is not UTF-8 cannot be)
            assignment = gb.find_assignment(chapter)
            outcome.max_score = float(assignment.max_score)


def _snapshot_gradebook(root: Path, into: Path) -> Path:
    """A consistent copy of the gradebook for workers to read (this process keeps writing the real one)."""
    target = into / "gradebook-template.db"
    with sqlite3.connect(root / "gradebook.db") as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return target


def _stop(job: "_Running") -> None:
    """End a worker (multiprocessing signals it only while it is not reaped: never a pid another process got
    since). Its kernel and student process die with it (limited_kernel.py)."""
    job.process.kill()
    job.process.join(5)


@dataclass
class _Running:
    student: str
    process: multiprocessing.Process
    conn: Connection
    scratch: Path
    started: float = field(default_factory=time.monotonic)


@dataclass
class Returned:
    """What came back for one submission: the worker's message ({'status', 'detail', 'notebooks', 'repairs',
    'stopped'}, plain JSON data), or None and why there is none. Plain data, so it can cross a network."""

    student: str
    message: dict | None = None
    status: str = "graded"
    detail: str = ""
    seconds: float = 0.0


def start_worker(context, root: Path, chapter: str, student: str, template: Path, limits: Limits, tmp: Path,
                 material: _Chapter, via: str) -> _Running:
    """Fork a worker that grades one submission in a scratch folder of its own under `tmp`."""
    scratch = Path(tempfile.mkdtemp(prefix="submission-", dir=tmp))
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_worker, args=(child, str(root), chapter, student, str(template), limits,
                                                     str(scratch), material, via))
    process.start()
    child.close()
    return _Running(student, process, parent, scratch)


def collect(job: _Running, ready: list, hard_limit: float) -> Returned | None:
    """The worker's result once it has sent it, died, or overrun `hard_limit` seconds (then it is killed); None
    while it is still working. `ready` is what multiprocessing.connection.wait returned. Cleans up after it."""
    elapsed = time.monotonic() - job.started
    returned = Returned(job.student)
    if job.conn in ready or job.process.sentinel in ready:
        try:
            returned.message = json.loads(job.conn.recv_bytes().decode()) if job.conn.poll() else None
        except (EOFError, OSError, ValueError):
            returned.message = None
        if returned.message is None and job.process.is_alive():
            return None
        if returned.message is None:
            returned.status, returned.detail = "not graded", "the grading process died"
    elif elapsed > hard_limit:
        returned.status, returned.detail = "killed", f"still running after {hard_limit:.0f} s"
    else:
        return None
    _stop(job)
    shutil.rmtree(job.scratch, ignore_errors=True)
    returned.seconds = round(elapsed, 2)
    if returned.message is not None:
        returned.status, returned.detail = returned.message["status"], returned.message["detail"]
    return returned


def hard_limit_of(limits: Limits) -> float:
    """When a worker is killed: it stops itself at the submission's deadline; this is the backstop."""
    return limits.seconds + 60


def grade(course_root: Path, chapter: str, jobs: int = 2, limits: Limits = Limits(), progress: bool = True,
          cluster: str | None = None) -> list[Outcome]:
    """Grade every submission of `chapter` in submitted/; returns one Outcome per student, sorted.

    With `cluster` (a Dask scheduler address, or "local"), the submissions are graded on that cluster's workers
    (cluster.py) and recorded here, as local runs are."""
    root = check_course(Path(course_root))
    if not (root / "source" / chapter / f"{chapter}.ipynb").is_file():
        raise CourseError(f"no chapter {chapter!r}: expected source/{chapter}/{chapter}.ipynb")
    if not (root / "gradebook.db").is_file():
        raise CourseError("no gradebook.db: run `bpcourse release` first, which creates it")
    if not (root / "release" / chapter / f"{chapter}.ipynb").is_file():
        raise CourseError(f"no release/{chapter}/{chapter}.ipynb: run `bpcourse release {chapter}` first")
    students = students_with_submissions(root, chapter)
    outcomes: dict[str, Outcome] = {}
    with tempfile.TemporaryDirectory(prefix="bpcourse-grade-") as tmp:
        if students:
            template, material = _grading_material(root, chapter, Path(tmp))
            if cluster is not None:
                from autograder.pipeline.cluster import run_on_cluster

                runs = run_on_cluster(cluster, root, chapter, students, limits, material, template, jobs)
                _record_all(root, chapter, students, runs, progress, Path(tmp), outcomes)
            else:
                _grade_locally(root, chapter, students, jobs, limits, progress, Path(tmp), template, material, outcomes)
    results = [outcomes[s] for s in students]
    _write_run(root, chapter, results)
    return results


def _grading_material(root: Path, chapter: str, tmp: Path) -> tuple[Path, _Chapter]:
    """What workers grade with: a copy of the gradebook whose hidden tests are stubs (the workers run them
    outside the kernel), and the chapter's student version and hidden tests."""
    template = _snapshot_gradebook(root, tmp)
    material = _Chapter.read(root, chapter)
    scoring.stub_hidden_tests(template, chapter, {t.grade_id for t in material.tests})
    return template, material


def start_kernel_service(folder: Path, limits: Limits, preload: list[str]) -> tuple[subprocess.Popen | None, str, str | None]:
    """Start the kernel server in `folder` and meanwhile import what the per-submission workers need (frozen
    for the forks). Returns the server, its socket ('' if it did not start), and why grading must not go on
    (the server, which jails student code, did not start where it should), or None."""
    server = _start_kernel_server(folder, limits, preload)
    with quiet_nbgrader():
        _prepare_workers()  # meanwhile, the server imports
    gc.freeze()  # what workers inherit is never collected: their GC does not walk it
    socket_path = folder / "kernels.sock"
    via = str(socket_path) if _kernel_server_ready(server, socket_path) else ""
    problem = None
    if not via and _jails(limits):
        problem = ("the kernel server, which puts each submission's code in a jail, did not start; not grading "
                   "without it. What it printed: " + _tail(folder / "server.log"))
    return server, via, problem


def _grade_locally(root: Path, chapter: str, students: list[str], jobs: int, limits: Limits, progress: bool, tmp: Path,
                   template: Path, material: _Chapter, outcomes: dict[str, Outcome]) -> None:
    """Grade in worker processes forked here, with a kernel server of this run's own."""
    server, via, problem = None, "", None
    try:
        server, via, problem = start_kernel_service(tmp / "kernel-server", limits, _chapter_preload(root, chapter))
        if problem is not None:
            raise CourseError(problem)
        runs = _run_locally(root, chapter, students, jobs, limits, tmp, via, material, template)
        _record_all(root, chapter, students, runs, progress, tmp, outcomes)
    finally:
        gc.unfreeze()
        _stop_kernel_server(server)


def _run_locally(root: Path, chapter: str, students: list[str], jobs: int, limits: Limits, tmp: Path, via: str,
                 material: _Chapter, template: Path) -> Iterator[Returned]:
    """Run a worker per submission, `jobs` at a time; yields each result as it comes back. Between two results
    the caller records the first: it is handed over once the freed slots are running again, so recording
    overlaps their work."""
    context = multiprocessing.get_context("fork")
    pending, running = list(students), []
    finished: list[Returned] = []
    while pending or running or finished:
        while pending and len(running) < max(1, jobs):
            student = pending.pop(0)
            problem = submission_problem(root, chapter, student)
            if problem is not None:
                yield Returned(student, status="not graded", detail=problem)
                continue
            running.append(start_worker(context, root, chapter, student, template, limits, tmp, material, via))
        if finished:
            yield finished.pop(0)
            continue
        ready = wait([r.conn for r in running] + [r.process.sentinel for r in running], timeout=1.0)
        for job in list(running):
            returned = collect(job, ready, hard_limit_of(limits))
            if returned is not None:
                running.remove(job)
                finished.append(returned)


def _record_all(root: Path, chapter: str, students: list[str], runs: Iterator[Returned], progress: bool, tmp: Path,
                outcomes: dict[str, Outcome]) -> None:
    """Record each result as it comes back, through nbgrader (its Gradebooks sharing one engine), with a
    progress bar over the submissions."""
    from tqdm import tqdm

    bar = tqdm(total=len(students), desc=f"grading {chapter}", unit="submission", disable=not progress,
               file=sys.stderr)
    with one_engine_per_gradebook():
        for returned in runs:
            outcome = outcomes.setdefault(returned.student, Outcome(returned.student))
            outcome.status, outcome.detail, outcome.seconds = returned.status, returned.detail, returned.seconds
            message = returned.message
            if message is not None:
                outcome.repairs = [str(r) for r in message.get("repairs", [])][:20]
                if message["notebooks"]:
                    _status_of(message["notebooks"], outcome)
                    _status_of_hidden_tests(message.get("stopped") or [], outcome)
                    _record(root, chapter, returned.student, message["notebooks"], tmp / "executed")
            _score(root, chapter, returned.student, outcome)
            bar.update(1)
    bar.close()


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
    width = max(len(shown_id(o.student)) for o in outcomes)
    lines = [f"{'student'.ljust(width)}  score        status"]
    for o in outcomes:
        status = o.status + (f" ({o.detail})" if o.detail else "")
        lines.append(f"{shown_id(o.student).ljust(width)}  {o.score:5.2f} / {o.max_score:<5g} {status}")
    return "\n".join(lines)
