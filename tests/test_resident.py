"""Chapter 6's memory, measured from outside the student's process (autograder/isolation/resident.py).

The grader reads the resident memory of the process that holds the student's code, so what that
code does there (rewriting the grader's sampler, patching tracemalloc, keeping its arrays where
tracemalloc does not look) cannot make plain backprop look checkpointed. Each attack is also
graded the old way, with the process reporting its memory itself, to show that it worked there.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autograder.calling import keys_of
from autograder.catalogue.checkpointing import VARIANTS
from autograder.catalogue import verdict_problems
from autograder.catalogue.checkpointing import ITERATIVE, PLAIN_WITH_A_SPARE_FORWARD
from autograder.grading import REFERENCE_CODE, report_for
from autograder.isolation.peer import RemoteError
from autograder.isolation.remote import RemoteFunction, StudentProcess
from autograder.isolation.cgroups import UidCgroups
from autograder.isolation.resident import GroupMeter, ResidentMeter, resident_bytes
from autograder.pipeline.grade import Limits, _kernel_server_ready, _start_kernel_server, _stop_kernel_server, isolation_problem
from autograder.report import Report

pytestmark = pytest.mark.skipif(resident_bytes(os.getpid()) is None, reason="no /proc/<pid>/statm on this system")

NAME = "checkpointed_backward"
GATED = {key: name for graded in REFERENCE_CODE for key, name in keys_of(REFERENCE_CODE[graded]).items()}
PLAIN_BACKPROP = "as much as plain backprop"
# What a student could write in its process so that plain backprop seems to hold nothing -> the code.
ATTACKS = {
    "rewrites the grader's memory sampler": (
        "import sys\n"
        "S = [m for m in list(sys.modules.values()) if hasattr(m, 'StudentSide')][0].StudentSide\n"
        "S.sample_memory = lambda self: 0 if self.memory is not None else None\n" + PLAIN_WITH_A_SPARE_FORWARD),
    "patches tracemalloc": (
        "import tracemalloc\ntracemalloc.get_traced_memory = lambda: (0, 0)\n" + PLAIN_WITH_A_SPARE_FORWARD),
    "keeps its caches in anonymous mmaps": (
        "import mmap\nimport numpy as np\n\n"
        "def stash(value):\n"
        "    # a copy in memory that tracemalloc does not trace\n"
        "    if isinstance(value, tuple):\n"
        "        return tuple(stash(v) for v in value)\n"
        "    if isinstance(value, np.ndarray) and value.size:\n"
        "        held = np.frombuffer(mmap.mmap(-1, value.nbytes), dtype=value.dtype).reshape(value.shape)\n"
        "        held[...] = value\n"
        "        return held\n"
        "    return value\n\n" + PLAIN_WITH_A_SPARE_FORWARD.replace("caches.append(cache)", "caches.append(stash(cache))")),
}
# Plain backprop's caches kept out of its process's resident pages: in files (the page cache holds them) or in
# /tmp (a tmpfs in the jail). Only the memory cgroup the jail puts the process in sees them. (A helper process to
# hold them cannot be had: forks are refused in the student's process.)
STASHED = PLAIN_WITH_A_SPARE_FORWARD.replace("caches.append(cache)", "caches.append(stash(cache))").replace(
    "caches[i])", "unstash(caches[i]))")
IN_FILES = (
    "import os, tempfile\nimport numpy as np\n\n"
    "def stash(value):\n"
    "    if isinstance(value, tuple):\n"
    "        return tuple(stash(v) for v in value)\n"
    "    if isinstance(value, np.ndarray) and value.size:\n"
    "        handle, path = tempfile.mkstemp(dir=FOLDER)\n"
    "        os.close(handle)\n"
    "        value.tofile(path)\n"
    "        return ('file', path, value.dtype.str, value.shape)\n"
    "    return value\n\n"
    "def unstash(value):\n"
    "    if isinstance(value, tuple) and len(value) == 4 and value[0] == 'file':\n"
    "        return np.fromfile(value[1], dtype=value[2]).reshape(value[3])\n"
    "    if isinstance(value, tuple):\n"
    "        return tuple(unstash(v) for v in value)\n"
    "    return value\n\n" + STASHED)
ELSEWHERE = {
    "keeps its caches in files": "import os\nFOLDER = os.getcwd()\n" + IN_FILES,
    "keeps its caches in /tmp": "import tempfile\nFOLDER = tempfile.gettempdir()\n" + IN_FILES,
}


def _graded(tmp_path: Path, code: str, seed: int = 1, via: str = "", fresh: bool = True) -> Report:
    with StudentProcess.start(tmp_path, via=via, fresh=fresh) as student:
        assert student.tune_allocator()
        assert isinstance(student.peer.meter, GroupMeter if via and fresh else ResidentMeter)
        assert student.withhold(GATED) > 0
        assert student.run([("answer", "import numpy as np\n" + code)], 60) == []
        student.peer.withheld = set(keys_of(REFERENCE_CODE[NAME]))
        return report_for(NAME, student.namespace(), 4, seed)


def _memory(report: Report):
    return next(item for item in report.items if item.name == "memory")


def test_resident_bytes_follow_what_a_process_touches():
    before = resident_bytes(os.getpid())
    block = np.ones(64 * 2**20 // 8)
    after = resident_bytes(os.getpid())
    assert before is not None and after is not None and after - before >= 60 * 2**20
    del block


def test_a_process_that_is_gone_has_no_resident_bytes():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert resident_bytes(child.pid) is None


def test_the_tuned_allocator_gives_back_what_is_freed():
    """Arrays of 32 KiB, freed, leave the process's resident size where it was (they had pages of their own)."""
    program = ("import gc, os, numpy as np\nfrom autograder.isolation.resident import resident_bytes, tune_allocator\n"
               "assert tune_allocator()\nbefore = resident_bytes(os.getpid())\n"
               "held = [np.ones(4096) for _ in range(400)]\npeak = resident_bytes(os.getpid())\n"
               "del held\ngc.collect()\nprint(peak - before, resident_bytes(os.getpid()) - before)\n")
    grew, left = map(int, subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                                         check=True).stdout.split())
    assert grew >= 400 * 32 * 1024 and left < grew / 10, (grew, left)


def test_the_allocator_is_tuned_only_before_the_students_code_runs(tmp_path):
    with StudentProcess.start(tmp_path) as student:
        assert student.peer.meter is None  # untuned: the process would report its memory itself
        assert student.run([("answer", "x = 1\n")], 10) == []
        with pytest.raises(RemoteError, match="before the student's code runs"):
            student.tune_allocator()


def test_checkpointing_earns_the_memory_part_measured_from_outside(tmp_path):
    report = _graded(tmp_path, ITERATIVE)
    assert report.passed, report.text()


@pytest.mark.parametrize("attack", ATTACKS)
def test_plain_backprop_cannot_hide_its_memory_from_the_grader(tmp_path, monkeypatch, attack):
    report = _graded(tmp_path, ATTACKS[attack])
    memory = _memory(report)
    assert not memory.correct and PLAIN_BACKPROP in memory.message, report.text()
    assert [item.name for item in report.items if not item.correct] == ["memory"], report.text()
    # The contrast: where the process reports its memory itself (no /proc to read), the attack earns the part.
    monkeypatch.setattr(RemoteFunction, "resident_memory", lambda self: None)
    assert _memory(_graded(tmp_path, ATTACKS[attack])).correct


MEASURED = [v for v in VARIANTS if (v.correct or isinstance(v.expect.get("memory"), str))]


@pytest.mark.parametrize("variant", MEASURED, ids=[v.label for v in MEASURED])
def test_the_catalogue_gets_its_memory_verdicts_in_the_students_process(tmp_path, variant):
    """Graded where students are graded, every right variant keeps the memory part and every variant that holds
    too much loses it, as tracemalloc in the grader's own process finds (tests/test_catalogue.py)."""
    report = _graded(tmp_path, variant.code)
    assert verdict_problems(variant, report) == [], report.text()


def has_memory_cgroups() -> bool:
    """Whether the jail puts each student process in a memory cgroup of its own here."""
    groups = UidCgroups.here(64) if isolation_problem() is None else None
    return groups is not None and groups.memory is not None


@pytest.fixture(scope="module")
def jailing_server(tmp_path_factory: pytest.TempPathFactory):
    """A kernel server that jails what it starts, with a memory cgroup for each: its socket."""
    if not has_memory_cgroups():
        pytest.skip("no jail with a memory cgroup here (Linux, as root, cgroup v1's memory controller)")
    folder = tmp_path_factory.mktemp("server")
    server = _start_kernel_server(folder, Limits(seconds=120, memory_mb=2048), [])
    try:
        assert _kernel_server_ready(server, folder / "kernels.sock"), (folder / "server.log").read_text()
        yield str(folder / "kernels.sock")
    finally:
        _stop_kernel_server(server)


def _work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    return work


@pytest.mark.parametrize("attack", ELSEWHERE)
def test_caches_kept_outside_the_process_still_count_in_its_cgroup(tmp_path, jailing_server, attack):
    """Files and /tmp are charged to the process's memory cgroup: plain backprop loses exactly
    the memory part. The contrast: its resident size alone (no cgroup) misses them, and the attack earns it."""
    report = _graded(_work(tmp_path), ELSEWHERE[attack], via=jailing_server)
    memory = _memory(report)
    assert not memory.correct and PLAIN_BACKPROP in memory.message, report.text()
    assert [item.name for item in report.items if not item.correct] == ["memory"], report.text()
    assert _memory(_graded(tmp_path, ELSEWHERE[attack])).correct


@pytest.mark.parametrize("code", [ITERATIVE, *ATTACKS.values()], ids=["iterative", *ATTACKS])
def test_the_cgroup_gives_the_verdicts_the_resident_size_gives(tmp_path, jailing_server, code):
    """In a jail, with the peak the kernel keeps: the iterative solution keeps the memory part, and the attacks
    on the process's own accounting lose it, as above."""
    report = _graded(_work(tmp_path), code, via=jailing_server)
    assert _memory(report).correct == (code == ITERATIVE), report.text()


@pytest.mark.slow
@pytest.mark.parametrize("variant", MEASURED, ids=[v.label for v in MEASURED])
def test_the_catalogue_gets_its_memory_verdicts_in_a_jail(tmp_path, jailing_server, variant):
    """As above, with the memory cgroup's peak: the same verdicts."""
    report = _graded(_work(tmp_path), variant.code, via=jailing_server)
    assert verdict_problems(variant, report) == [], report.text()


def test_a_group_meter_counts_the_file_a_process_wrote_and_its_resident_size_does_not(tmp_path):
    """A process in a uid's memory group writes 16 MiB to a file between two readings: the group's peak holds
    them (the page cache is charged to it), the process's resident size does not."""
    from autograder.isolation.resident import memory_group

    if not has_memory_cgroups():
        pytest.skip("no memory cgroup here (Linux, as root, cgroup v1's memory controller)")
    groups, uid = UidCgroups.here(64), 60998  # below the jail's pool: no grading run holds it
    groups.take(uid)
    go_r, go_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            groups.join(uid)
            os.write(done_w, b"in")
            os.read(go_r, 1)
            chunk = b"\1" * 2**16  # 16 MiB written from one small buffer: the process's own memory hardly grows
            with open(tmp_path / "cache.bin", "wb") as handle:
                for _ in range(256):
                    handle.write(chunk)
            os.write(done_w, b"written")
            os.read(go_r, 1)
        finally:
            os._exit(0)
    try:
        assert os.read(done_r, 2) == b"in"
        group = memory_group(pid)
        assert group == groups.memory / f"uid{uid}"
        by_group, by_size = GroupMeter(group), ResidentMeter(pid)
        since_group, since_size = by_group.now(), by_size.now()
        by_group.start()
        by_size.start()
        os.write(go_w, b"x")
        assert os.read(done_r, 7) == b"written"
        by_size.sample()
        assert by_group.peak_above(since_group) >= 16 * 2**20
        assert by_group.now() - since_group >= 16 * 2**20  # still held, by the page cache
        assert by_size.peak_above(since_size) < 4 * 2**20
    finally:
        os.write(go_w, b"x")
        os.waitpid(pid, 0)
        (tmp_path / "cache.bin").unlink()
        groups.give_back(uid)


def test_a_fork_of_the_server_is_measured_by_its_resident_size(tmp_path, jailing_server):
    """A student's process forked from the kernel server shares its pages: each it writes would be charged to
    its memory cgroup anew, so its memory is read from its resident size, and the iterative solution keeps the
    memory part."""
    report = _graded(_work(tmp_path), ITERATIVE, via=jailing_server, fresh=False)
    assert _memory(report).correct, report.text()
