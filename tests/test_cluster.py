"""`bpcourse grade --cluster`: grading on a Dask cluster (autograder/pipeline/cluster.py).

The demo class and the hostile corpus are graded on a LocalCluster of two worker processes and
with `--jobs 2`, and every row must be the same. Then workers are killed while they grade: once
(the submission is retried on another worker and graded as usual) and twice (it is recorded as
"worker died"); every other row is unaffected. The result records that cross the network are
checked field by field, and the local path never imports Dask.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dask
import nbformat
import pytest
from distributed import Client, LocalCluster

from autograder.pipeline import cluster
from autograder.pipeline.cli import main as bpcourse
from autograder.pipeline.course import CourseError
from autograder.pipeline.demo import demo_class
from autograder.pipeline.grade import Limits, Returned, grade, isolation_problem
from autograder.pipeline.release import released_copy
from test_hostile import CHAPTER, JAILED, LIMITS, _added, attacks
from test_release import REPO, project_environment  # noqa: F401 - fixture


def _course(tmp_path: Path, notebooks: dict[str, dict]) -> Path:
    root = released_copy(REPO, CHAPTER, tmp_path)
    for student, nb in notebooks.items():
        folder = root / "submitted" / student / CHAPTER
        folder.mkdir(parents=True)
        (folder / f"{CHAPTER}.ipynb").write_text(json.dumps(nb))
    return root


def _rows(outcomes) -> dict[str, tuple[float, str, str]]:
    return {o.student: (o.score, o.status, o.detail) for o in outcomes}


@pytest.fixture(scope="module")
def demo_and_hostile(tmp_path_factory: pytest.TempPathFactory):
    """The demo class and the hostile corpus, in one course; what each hostile case earns."""
    probe = released_copy(REPO, CHAPTER, tmp_path_factory.mktemp("probe") / "course")
    source = json.loads((probe / "source" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    student = json.loads((probe / "release" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    notebooks = {name: json.loads(nbformat.writes(nb)) for name, nb in demo_class(probe).items()}
    root = tmp_path_factory.mktemp("class") / "course"
    expected = {f"hostile-{name}": case for name, case in attacks(source, student, root).items()
                if name not in JAILED or isolation_problem() is None}
    notebooks.update({name: nb for name, (nb, *_) in expected.items()})
    return _course(root, notebooks), expected


def test_a_local_cluster_grades_the_demo_class_and_the_hostile_corpus_as_jobs_do(demo_and_hostile, tmp_path):
    root, expected = demo_and_hostile
    on_cluster = _rows(grade(root, CHAPTER, jobs=2, limits=LIMITS, progress=False, cluster="local"))
    cluster_gradebook = json.loads((root / "autograded" / f"{CHAPTER}.grading.json").read_text())
    local = _rows(grade(root, CHAPTER, jobs=2, limits=LIMITS, progress=False))
    assert len(on_cluster) == len(local) == len(list((root / "submitted").iterdir())) > 40
    assert {s: row[:2] for s, row in on_cluster.items()} == {s: row[:2] for s, row in local.items()}
    # The detail too, but for a kernel that died: its cause is the last error nbgrader logged, and which of the
    # errors of a dying kernel that is varies from run to run of the same notebook, on either path.
    assert {s: row for s, row in on_cluster.items() if row[1] != "kernel died"} == \
        {s: row for s, row in local.items() if row[1] != "kernel died"}
    for name, (_, score, status, _) in expected.items():
        assert on_cluster[name][:2] == (score, status), name
    assert {row["student"] for row in cluster_gradebook} == set(local)
    assert on_cluster["unsolved"][0] == 0 and on_cluster["s02-right-sigmoid-via-tanh"][0] == 10


SMALL_CLASS = ["a-solved", "b-unsolved", "c-solved", "d-target", "e-unsolved", "f-solved"]


@pytest.fixture(scope="module")
def small_class(tmp_path_factory: pytest.TempPathFactory):
    probe = released_copy(REPO, CHAPTER, tmp_path_factory.mktemp("probe") / "course")
    notebooks = demo_class(probe)
    solved, unsolved = notebooks["s02-right-sigmoid-via-tanh"], notebooks["unsolved"]
    chosen = {s: json.loads(nbformat.writes(unsolved if "unsolved" in s else solved)) for s in SMALL_CLASS}
    # The target takes a few seconds longer in its kernel, so a worker killed a second into it dies mid-grading
    # (an honest submission takes under two seconds, which a kill a second in could miss).
    chosen["d-target"] = _added(chosen["d-target"], "import time\ntime.sleep(4)\n")
    return chosen


@pytest.fixture
def two_workers():
    """A LocalCluster of two worker processes (as `--cluster local` makes), reached by its address."""
    with dask.config.set({"distributed.worker.daemon": False}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
            with Client(local) as client:
                yield local.scheduler_address, client


def _executing(dask_worker) -> list[str]:
    return [str(task.key) for task in dask_worker.state.executing]


def _kill_workers_grading(client: Client, student: str, times: int, done: threading.Event) -> list[str]:
    """Kill (SIGKILL) the worker process grading `student`, `times` times, each a second into its grading."""
    killed: list[str] = []
    while len(killed) < times and not done.is_set():
        # A worker killed a moment ago may still be in the scheduler's list: its answer is left out, not raised.
        busy = [worker for worker, keys in client.run(_executing, on_error="ignore").items() if worker not in killed
                and any(key.endswith(f"-{student}") for key in keys)]
        if busy:
            time.sleep(1.0)  # in the middle of it: its kernel is running the notebook by now
            pid = client.run(os.getpid, workers=busy[:1], on_error="ignore").get(busy[0])
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                killed.append(busy[0])
        time.sleep(0.05)
    return killed


def _grade_while_killing(root: Path, address: str, client: Client, times: int) -> tuple[dict, list[str]]:
    done = threading.Event()
    killed: list[str] = []
    killer = threading.Thread(target=lambda: killed.extend(_kill_workers_grading(client, "d-target", times, done)))
    killer.start()
    try:
        outcomes = grade(root, CHAPTER, jobs=2, limits=LIMITS, progress=False, cluster=address)
    finally:
        done.set()
        killer.join()
    return {o.student: o for o in outcomes}, killed


def test_a_worker_killed_mid_submission_costs_nothing(small_class, two_workers, tmp_path):
    address, client = two_workers
    root = _course(tmp_path / "course", small_class)
    rows, killed = _grade_while_killing(root, address, client, times=1)
    assert len(killed) == 1
    assert sorted(rows) == SMALL_CLASS
    for student, outcome in rows.items():
        assert (outcome.score, outcome.status) == ((0.0 if "unsolved" in student else 10.0), "graded"), outcome


def test_a_submission_whose_worker_dies_twice_is_recorded_as_such(small_class, two_workers, tmp_path):
    address, client = two_workers
    root = _course(tmp_path / "course", small_class)
    rows, killed = _grade_while_killing(root, address, client, times=2)
    assert len(killed) == 2 and killed[0] != killed[1]
    assert sorted(rows) == SMALL_CLASS
    target = rows.pop("d-target")
    assert (target.score, target.status) == (0.0, "worker died"), target
    assert target.detail == "2 workers it was given to died before it was graded"
    for student, outcome in rows.items():
        assert (outcome.score, outcome.status) == ((0.0 if "unsolved" in student else 10.0), "graded"), outcome
    exported = json.loads((root / "autograded" / f"{CHAPTER}.grading.json").read_text())
    assert {row["student"]: row["status"] for row in exported}["d-target"] == "worker died"


def test_the_command_grades_on_a_local_cluster_with_a_progress_bar_and_a_table(small_class, tmp_path, capsys,
                                                                              monkeypatch):
    root = _course(tmp_path / "course", {s: small_class[s] for s in ("a-solved", "b-unsolved")})
    addresses = []
    run_on_cluster = cluster.run_on_cluster

    def noted(address, *args):
        addresses.append(address)
        return run_on_cluster(address, *args)

    monkeypatch.setattr(cluster, "run_on_cluster", noted)
    assert bpcourse(["grade", CHAPTER, "--cluster", "local", "--jobs", "2", "--time-limit", "60",
                     "--cell-time-limit", "6", "--course", str(root)]) == 0
    out, err = capsys.readouterr()
    assert f"grading {CHAPTER}: 100%" in err and "2/2" in err
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    assert rows == {"a-solved": ["10.00", "/", "10", "graded"], "b-unsolved": ["0.00", "/", "10", "graded"]}
    assert addresses == ["local"]


def test_local_grading_never_imports_dask(small_class, tmp_path):
    root = _course(tmp_path / "course", {"a-solved": small_class["a-solved"]})
    program = ("import sys\nfrom pathlib import Path\nfrom autograder.pipeline.grade import grade\n"
               f"[o] = grade(Path({str(root)!r}), {CHAPTER!r}, jobs=1, progress=False)\n"
               "print(o.score, sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["10.0", "[]"], done.stderr[-2000:]


def test_a_scheduler_that_cannot_be_reached_is_a_clear_error(tmp_path, monkeypatch):
    root = _course(tmp_path / "course", {})
    (root / "submitted" / "someone" / CHAPTER).mkdir(parents=True)
    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 2)
    with pytest.raises(CourseError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        grade(root, CHAPTER, progress=False, cluster="tcp://127.0.0.1:9")


def test_a_daemonic_worker_is_refused_with_the_setting_that_fixes_it(small_class, tmp_path):
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        root = _course(tmp_path / "course", {"a-solved": small_class["a-solved"]})
        with pytest.raises(CourseError, match="DASK_DISTRIBUTED__WORKER__DAEMON=False"):
            grade(root, CHAPTER, progress=False, cluster=local.scheduler_address)


# ---- what crosses the network ------------------------------------------------------------------


def _record(**changes) -> bytes:
    message = {"status": "graded", "detail": "", "notebooks": {"x.ipynb": "{}"}, "repairs": [], "stopped": []}
    record = {"student": "ann", "message": message, "status": "graded", "detail": "", "seconds": 1.5}
    for key, value in changes.items():
        if key.startswith("message_"):
            message[key[len("message_"):]] = value
        else:
            record[key] = value
    return json.dumps(record).encode()


def test_a_well_formed_record_is_read_back_whole():
    returned = cluster.decode_record(_record(), "ann")
    assert returned == Returned("ann", json.loads(_record())["message"], "graded", "", 1.5)


@pytest.mark.parametrize("data", [
    "not bytes", b"not json", b"[]", _record(student="bob"), _record(seconds="soon"), _record(message=[]),
    _record(message_notebooks={"x.ipynb": 3}), _record(message_notebooks=["x"]), _record(message_status=None),
    _record(message_repairs="all"), json.dumps({"student": "ann"}).encode(),
], ids=["str", "not-json", "list", "other-student", "bad-seconds", "message-list", "notebook-not-text",
        "notebooks-list", "status-none", "repairs-text", "fields-missing"])
def test_a_malformed_record_is_that_submissions_status(data):
    returned = cluster.decode_record(data, "ann")
    assert (returned.status, returned.message) == ("not graded", None)
    assert returned.detail.startswith("the worker's answer could not be read")


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/../../b", ""])
def test_files_are_never_written_outside_their_folder(tmp_path, name):
    with pytest.raises(ValueError, match="refusing to write"):
        cluster._write_tree(tmp_path / "inside", {name: b"x"})
    assert not (tmp_path / "escape.txt").exists()


def test_the_package_carries_the_chapter_but_no_notebook_of_it(tmp_path):
    root = released_copy(REPO, CHAPTER, tmp_path / "course")
    (root / "source" / CHAPTER / "data").mkdir()
    (root / "source" / CHAPTER / "data" / "points.csv").write_text("1,2\n")
    from autograder.pipeline.grade import _grading_material

    template, material = _grading_material(root, CHAPTER, tmp_path)
    package = cluster.ChapterPackage.read(root, CHAPTER, template, material, Limits())
    assert package.data_files == {"data/points.csv": b"1,2\n"}
    assert package.gradebook == template.read_bytes()
    again = cluster.ChapterPackage.read(root, CHAPTER, template, material, Limits(seconds=5))
    assert again.token != package.token  # other limits: the worker makes another place
