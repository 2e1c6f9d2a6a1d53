"""`bpcourse grade CHAPTER --cluster ADDRESS`: grade on the workers of a Dask cluster, record here.

Local grading forks a worker per submission on this machine (grade.py). Here that same worker is
forked on a Dask worker instead: each Dask worker builds, once per chapter, a course folder of its
own from the chapter's package (nbgrader's config, the chapter's data files, the gradebook with the
hidden tests stubbed, the student version and the hidden tests) and starts a kernel server there,
with the same jail and limits as local grading. A task carries one submission's files as bytes and
returns the worker's result record as JSON bytes. The client accepts only msgpack-encoded results
(`deserializers`), so nothing that comes back is unpickled here; the gradebook, the export and the
feedback are written on this side only, by the code that records local runs.

A worker that dies in the middle of a submission makes the scheduler give it to another worker,
once (`allowed-failures` = 1); the second death is recorded as the status "worker died".
"""
from __future__ import annotations

import atexit
import collections
import hashlib
import json
import logging
import multiprocessing
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from multiprocessing.connection import wait
from pathlib import Path, PurePosixPath
from typing import Iterator

from autograder.pipeline.course import CourseError, skip_slow_imports

skip_slow_imports()  # before grade.py imports nbformat: a Dask worker imports this module to run its first task
from autograder.pipeline import grade as local  # noqa: E402
from autograder.pipeline.grade import Limits, Returned  # noqa: E402

RETRIES = 1  # how many times the scheduler gives a submission to another worker after one died grading it
CONNECT_SECONDS = 30
THREADS_RECOUNT_SECONDS = 5.0
# A LocalCluster shares this machine's cores with the grading itself, so its processes keep their own upkeep low:
# no statistical profiler sampling every thread's stack, slower monitors, and event-loop ticks of 200 ms (idle,
# with the profiler already off, a two-worker cluster then used 0.014 CPU seconds a second instead of 0.06).
LOCAL_CLUSTER_CONFIG = {
    "distributed.scheduler.allowed-failures": RETRIES,
    "distributed.worker.daemon": False,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.tick.interval": "200ms",
    "distributed.worker.memory.monitor-interval": "1s",
    # Without Dask's MALLOC_TRIM_THRESHOLD_ (see _make_place); the thread counts are its defaults.
    "distributed.nanny.pre-spawn-environ": {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1},
}


@dataclass(frozen=True)
class ChapterPackage:
    """What every worker needs to grade a chapter, sent to each worker once. `token` names its contents."""

    chapter: str
    config: str  # nbgrader_config.py
    data_files: dict[str, bytes]  # source/<chapter>/ but its notebooks, by relative POSIX path
    gradebook: bytes  # the gradebook, hidden tests stubbed (grade._grading_material)
    material: local._Chapter
    preload: list[str]
    limits: Limits
    token: str

    @classmethod
    def read(cls, root: Path, chapter: str, template: Path, material: local._Chapter, limits: Limits) -> "ChapterPackage":
        folder = root / "source" / chapter
        data = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
                if p.is_file() and p.suffix != ".ipynb"}
        config = (root / "nbgrader_config.py").read_text(encoding="utf-8")
        gradebook = template.read_bytes()
        digest = hashlib.sha256(config.encode() + gradebook + repr((chapter, sorted(data.items()), limits)).encode())
        return cls(chapter, config, data, gradebook, material, local._chapter_preload(root, chapter), limits,
                   digest.hexdigest()[:16])


def submission_files(root: Path, chapter: str, student: str) -> dict[str, bytes]:
    """The files of one submission, by path relative to submitted/<student>/<chapter>/ (links were refused before)."""
    folder = root / "submitted" / student / chapter
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _write_tree(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ValueError(f"refusing to write {name!r} outside {folder}")
        target = folder.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


# ---- on a Dask worker --------------------------------------------------------------------------


@dataclass
class _Place:
    """One chapter's grading place on a worker: a course folder and the kernel server its kernels come from."""

    folder: Path
    server: subprocess.Popen | None
    via: str
    problem: str | None  # why this worker cannot grade, if it cannot

    @property
    def root(self) -> Path:
        return self.folder / "course"

    @property
    def template(self) -> Path:
        return self.folder / "gradebook-template.db"


_places: dict[str, _Place] = {}
_places_lock = threading.Lock()


def _place_for(package: ChapterPackage) -> _Place:
    """The worker's place for this package, made on its first submission."""
    with _places_lock:
        if package.token not in _places:
            _places[package.token] = _make_place(package)
        return _places[package.token]


def _make_place(package: ChapterPackage) -> _Place:
    from distributed import get_worker

    # In the worker's own scratch space, which Dask removes when the worker ends, and purges at the next start on
    # this machine when a worker was killed.
    folder = Path(tempfile.mkdtemp(prefix="bpcourse-", dir=get_worker().local_directory))
    root = folder / "course"
    (root / "source" / package.chapter).mkdir(parents=True)
    (root / "submitted").mkdir()
    _write_tree(root / "source" / package.chapter, package.data_files)
    (root / "nbgrader_config.py").write_text(package.config, encoding="utf-8")
    (folder / "gradebook-template.db").write_bytes(package.gradebook)
    # Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536, with which every kernel hands memory back to the
    # system after each large array it frees: 12% more CPU in the kernels here (56 against 49 CPU seconds for 40
    # submissions). Kernels on a worker run as they do locally.
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    place = _Place(folder, *local.start_kernel_service(folder / "kernel-server", package.limits, package.preload))
    atexit.register(_close, place)
    return place


def _close(place: _Place) -> None:
    local._stop_kernel_server(place.server)
    shutil.rmtree(place.folder, ignore_errors=True)


def worker_problem() -> str | None:
    """Why this Dask worker cannot grade, or None. Dask starts workers as daemonic processes by default, and a
    daemonic process may not start the process that grades a submission."""
    if multiprocessing.current_process().daemon:
        return ("its workers run as daemonic processes, which may not start the process that grades a submission: "
                "start them with DASK_DISTRIBUTED__WORKER__DAEMON=False")
    return None


def _worker_report() -> dict[str, str | None]:
    """What the instructor is told about a worker before grading: why it cannot grade, why it has no jail."""
    return {"problem": worker_problem(), "unjailed": local.isolation_problem()}


def grade_on_worker(package: ChapterPackage, student: str, files: dict[str, bytes]) -> bytes:
    """The Dask task: grade one submission here as local grading does; its result record as JSON bytes.
    Never raises: a failure here is the submission's status."""
    returned = Returned(student)
    try:
        place = _place_for(package)
        problem = worker_problem() or place.problem
        if problem is not None:
            returned.status, returned.detail = "not graded", problem
            return json.dumps(asdict(returned)).encode()
        submitted = place.root / "submitted" / student
        try:
            _write_tree(submitted / package.chapter, files)
            job = local.start_worker(multiprocessing.get_context("fork"), place.root, package.chapter, student,
                                     place.template, package.limits, place.folder, package.material, place.via)
            hard_limit = local.hard_limit_of(package.limits)
            while (done := local.collect(job, wait([job.conn, job.process.sentinel], timeout=1.0), hard_limit)) is None:
                pass
            returned = done
        finally:
            shutil.rmtree(submitted, ignore_errors=True)
    except Exception as error:  # noqa: BLE001 - anything that goes wrong here is this submission's status
        returned.status, returned.detail = "not graded", f"the worker could not grade it ({type(error).__name__}: {error})"
    return json.dumps(asdict(returned)).encode()


# ---- here: hand out the submissions, take back the records --------------------------------------


def decode_record(data: object, student: str) -> Returned:
    """A worker's answer as a Returned, checked field by field: what crossed the network is only trusted to be
    bytes. An answer that is not a record for this student is that submission's status."""
    try:
        record = json.loads(data) if isinstance(data, bytes) else None
        message = record.get("message") if isinstance(record, dict) else None
        if not isinstance(record, dict) or record.get("student") != student:
            raise ValueError("not a record for this submission")
        if message is not None:
            if not (isinstance(message, dict) and isinstance(message.get("notebooks"), dict)
                    and all(isinstance(k, str) and isinstance(v, str) for k, v in message["notebooks"].items())
                    and isinstance(message.get("status"), str) and isinstance(message.get("detail"), str)
                    and isinstance(message.get("repairs", []), list) and isinstance(message.get("stopped", []), list)):
                raise ValueError("a malformed message")
        return Returned(student, message, str(record["status"]), str(record["detail"]), float(record["seconds"]))
    except (KeyError, TypeError, ValueError) as error:
        return Returned(student, status="not graded", detail=f"the worker's answer could not be read ({error})")


def _failed(future, student: str) -> Returned:
    """The record of a task that ended in an error: its workers died, or it could not run at all."""
    try:
        error = future.exception()
    except BaseException as cancelled:  # noqa: BLE001 - a cancelled task raises instead of returning its error
        error = cancelled
    if type(error).__name__ == "KilledWorker":
        return Returned(student, status="worker died", detail=f"{RETRIES + 1} workers it was given to died before "
                                                              "it was graded")
    return Returned(student, status="not graded", detail=f"the cluster could not grade it ({type(error).__name__}: "
                                                         f"{str(error)[:200]})")


def _hold(package: ChapterPackage) -> ChapterPackage:
    return package


def _allow_failures(dask_scheduler, count: int = RETRIES) -> None:
    dask_scheduler.allowed_failures = count


def _connect(address: str, jobs: int):
    """A client of the cluster at `address`, or of a new LocalCluster of `jobs` worker processes for 'local',
    whose scheduler gives a submission to another worker RETRIES times at most."""
    import dask
    from distributed import Client, LocalCluster

    if address == "local":
        with dask.config.set(LOCAL_CLUSTER_CONFIG):
            cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
        return Client(cluster, deserializers=["msgpack"]), cluster
    try:
        client = Client(address, deserializers=["msgpack"], timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError, ValueError) as error:
        raise CourseError(f"cannot reach the Dask scheduler at {address} ({type(error).__name__}: {error})") from None
    reports = client.run(_worker_report)
    problems = {worker: report["problem"] for worker, report in reports.items() if report["problem"]}
    if problems:
        client.close()
        worker, problem = next(iter(problems.items()))
        raise CourseError(f"the cluster at {address} cannot grade: {problem} ({len(problems)} worker(s), {worker} "
                          "among them)")
    unjailed = {worker: report["unjailed"] for worker, report in reports.items() if report["unjailed"]}
    if unjailed:
        worker, why = next(iter(unjailed.items()))
        print(f"note: {len(unjailed)} of {len(reports)} worker(s) run student code without a jail ({worker}: {why}); "
              "see the README", file=sys.stderr)
    try:
        client.run_on_scheduler(_allow_failures)
    except Exception as error:  # noqa: BLE001 - a scheduler may refuse code: its own setting then holds
        print(f"note: could not set the scheduler's allowed-failures to {RETRIES} ({error}); a submission whose "
              "worker dies is retried as often as that scheduler allows", file=sys.stderr)
    return client, None


def run_on_cluster(address: str, root: Path, chapter: str, students: list[str], limits: Limits,
                   material: local._Chapter, template: Path, jobs: int) -> Iterator[Returned]:
    """Grade each submission on the cluster; yields each record as it comes back, in the order they finish.

    As many submissions are out at once as the cluster has threads, so none waits on a worker behind another
    (and a worker that dies is charged only with the one it was grading). The next one is handed out as soon
    as a record comes back, from Dask's callback thread, while this thread records: handing out only between
    two records left workers idle (10 to 16% slower than --jobs here, against 2 to 4%). A class of any size is
    read from disk as the work goes."""
    client, cluster = _connect(address, jobs)
    try:
        # A task whose result is the package, not scattered data: if every worker holding it dies, the scheduler
        # makes it again from the task; each worker fetches it once, from a peer, for its first submission.
        package = client.submit(_hold, ChapterPackage.read(root, chapter, template, material, limits), pure=False,
                                key=f"chapter-package-{uuid.uuid4().hex[:12]}")
        run = uuid.uuid4().hex[:12]  # task keys of this run (grade-RUN-STUDENT) differ from any other run's
        pending = collections.deque(students)
        out: dict[str, str] = {}  # task key -> student
        back: queue.Queue[Returned] = queue.Queue()  # exactly one record per student
        lock = threading.Lock()

        threads = [0, 0.0]  # the cluster's threads, and when they were counted (workers come and go)

        def hand_out() -> None:
            with lock:
                if time.monotonic() - threads[1] > THREADS_RECOUNT_SECONDS:
                    threads[:] = [sum(client.nthreads().values()), time.monotonic()]
                room = max(1, threads[0]) - len(out)
                while pending and room > 0:
                    student = pending.popleft()
                    try:
                        problem = local.submission_problem(root, chapter, student)
                        if problem is None:
                            future = client.submit(grade_on_worker, package, student,
                                                   submission_files(root, chapter, student),
                                                   key=f"grade-{run}-{student}", pure=False)
                    except Exception as error:  # noqa: BLE001 - e.g. a file that cannot be read: this row's status
                        problem = f"could not be handed to the cluster ({type(error).__name__}: {error})"
                    if problem is not None:
                        back.put(Returned(student, status="not graded", detail=problem))
                        continue
                    out[future.key] = student
                    future.add_done_callback(came_back)
                    room -= 1

        def came_back(future) -> None:
            with lock:
                student = out.pop(future.key)
            returned = Returned(student, status="not graded", detail="the cluster lost it")
            try:
                hand_out()  # first: the worker that sent this is idle
                # A record whose worker died before it was fetched is graded again; result() waits for that.
                returned = decode_record(future.result(), student) if future.status == "finished" else _failed(future, student)
            except Exception as error:  # noqa: BLE001 - whatever happens here, the student gets a row
                returned.detail += f" ({type(error).__name__}: {error})"
            finally:
                future.release()
                back.put(returned)

        hand_out()
        for _ in students:
            yield back.get()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
