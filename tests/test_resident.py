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
from autograder.isolation.resident import FILES_REFUSED, GroupMeter, ResidentMeter, resident_bytes
from autograder.pipeline.scoring import CHAPTER_IMPORTS, TEST_CELL, preloaded
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
# Plain backprop's caches copied into a buffer its cell filled before the call: the call's resident size hardly
# grows, but the buffer is above the floor read before the student's code ran.
INTO_A_BUFFER = (
    "USED = [0]\n\n"
    "def stash(value):\n"
    "    if isinstance(value, tuple):\n"
    "        return tuple(stash(v) for v in value)\n"
    "    if isinstance(value, np.ndarray) and value.size and value.dtype == POOL.dtype \\\n"
    "            and USED[0] + value.size <= POOL.size:\n"
    "        held = POOL[USED[0]:USED[0] + value.size].reshape(value.shape)\n"
    "        USED[0] += value.size\n"
    "        held[...] = value\n"
    "        return held\n"
    "    return value\n\n" + PLAIN_WITH_A_SPARE_FORWARD.replace("caches.append(cache)", "caches.append(stash(cache))")
    .replace("    caches = []\n", "    USED[0] = 0\n    caches = []\n", 1))
LAYERS_100 = "100 * 1024 * 16"  # a hundred of the deep stacks' (1024, 16) activations
# The file, found where a grading run copies the submission, shared where it can be written (a grading run's copy
# cannot), else copied on write.
MAPPED = (
    "import glob, mmap, os\n\n"
    "def mapped():\n"
    "    path = (glob.glob('brought.bin') + glob.glob('../**/brought.bin', recursive=True))[0]\n"
    "    shared = os.access(path, os.W_OK)\n"
    "    with open(path, 'r+b' if shared else 'rb') as brought:\n"
    f"        held = mmap.mmap(brought.fileno(), 8 * {LAYERS_100}, access=mmap.ACCESS_WRITE if shared else mmap.ACCESS_COPY)\n"
    "    return np.frombuffer(held, dtype=float)\n\n")
BEFOREHAND = {
    "fills a buffer beforehand": f"POOL = np.ones({LAYERS_100})\n" + INTO_A_BUFFER,
    "fills an anonymous mmap beforehand": (
        f"import mmap\nPOOL = np.frombuffer(mmap.mmap(-1, 8 * {LAYERS_100}), dtype=float)\nPOOL[:] = 1.0\n"
        + INTO_A_BUFFER),
    "maps a file it brought beforehand": f"{MAPPED}POOL = mapped()\nPOOL[:] = 1.0\n" + INTO_A_BUFFER,
    "maps a file it brought during the call": (
        f"{MAPPED}POOL = np.zeros(0)\n" + INTO_A_BUFFER.replace(
            "    USED[0] = 0\n", "    global POOL\n    USED[0] = 0\n    POOL = mapped()\n", 1)),
}
BROUGHT_BYTES = 8 * 100 * 1024 * 16  # the file such a submission brings along (brought.bin)
IN_PIPES = (
    "import fcntl, os\nimport numpy as np\n\n"
    "def stash(value):\n"
    "    # each array in a pipe of its own, as many as can be opened; the rest kept as they are\n"
    "    if isinstance(value, tuple):\n"
    "        return tuple(stash(v) for v in value)\n"
    "    if isinstance(value, np.ndarray) and value.size:\n"
    "        try:\n"
    "            out, into = os.pipe()\n"
    "        except OSError:\n"
    "            return value\n"
    "        try:\n"
    "            fcntl.fcntl(into, fcntl.F_SETPIPE_SZ, max(value.nbytes, 4096))\n"
    "            os.write(into, value.tobytes())\n"
    "        except OSError:\n"
    "            os.close(out)\n"
    "            return value\n"
    "        finally:\n"
    "            os.close(into)\n"
    "        return ('pipe', out, value.dtype.str, value.shape, value.nbytes)\n"
    "    return value\n\n"
    "def unstash(value):\n"
    "    if isinstance(value, tuple) and len(value) == 5 and value[0] == 'pipe':\n"
    "        data = b''\n"
    "        while len(data) < value[4]:\n"
    "            data += os.read(value[1], value[4] - len(data))\n"
    "        os.close(value[1])\n"
    "        return np.frombuffer(data, dtype=value[2]).reshape(value[3]).copy()\n"
    "    if isinstance(value, tuple):\n"
    "        return tuple(unstash(v) for v in value)\n"
    "    return value\n\n" + STASHED)
ELSEWHERE = {
    "keeps its caches in files": "import os\nFOLDER = os.getcwd()\n" + IN_FILES,
    "keeps its caches in /tmp": "import tempfile\nFOLDER = tempfile.gettempdir()\n" + IN_FILES,
}


def _graded(tmp_path: Path, code: str, seed: int = 1, via: str = "", fresh: bool = True, runs: bool = True,
            floor_after: bool = False) -> Report:
    """The report on `code` graded in a student's process whose memory is measured: `runs` says its cell raises
    nothing; with `floor_after`, the floor is read after the cell ran, not before (the contrast)."""
    with StudentProcess.start(tmp_path, via=via, fresh=fresh) as student:
        assert student.tune_allocator()
        meter = student.peer.meter
        assert type(meter) is (GroupMeter if via and fresh else ResidentMeter)
        assert student.withhold(GATED) > 0
        assert student.take_memory_floor(["numpy"])
        assert (student.run([("answer", "import numpy as np\n" + code)], 60) == []) == runs
        if floor_after:
            assert meter.floor()
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
    monkeypatch.setattr(RemoteFunction, "memory_read_from_outside", lambda self: False)
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
    work.mkdir(parents=True)
    return work


def _bringing(work: Path) -> Path:
    """A working folder holding the file a submission of BEFOREHAND brings along."""
    brought = work / "brought.bin"
    brought.write_bytes(bytes(BROUGHT_BYTES))
    os.chmod(work, 0o777)
    os.chmod(brought, 0o666)  # the jail's uid writes it
    return work


@pytest.fixture(params=[False, True], ids=["resident size", "memory cgroup"])
def via(request: pytest.FixtureRequest) -> str:
    """Where a student's process is started: here (measured by its resident size), or by a jailing server."""
    return request.getfixturevalue("jailing_server") if request.param else ""


@pytest.mark.parametrize("attack", BEFOREHAND)
def test_memory_made_before_the_call_counts(tmp_path, via, attack):
    """A buffer filled (or a file mapped) before the call, where the call keeps plain backprop's caches: above the
    floor read before the student's code ran, so it loses exactly the memory part. The contrast: with the floor
    read after its cell ran, the buffers made there earn it."""
    report = _graded(_bringing(_work(tmp_path)), BEFOREHAND[attack], via=via)
    memory = _memory(report)
    assert not memory.correct and PLAIN_BACKPROP in memory.message, report.text()
    assert [item.name for item in report.items if not item.correct] == ["memory"], report.text()
    if "during the call" not in attack:
        assert _memory(_graded(_bringing(_work(tmp_path / "again")), BEFOREHAND[attack], via=via,
                                       floor_after=True)).correct


@pytest.mark.parametrize("attack", [*ELSEWHERE, "keeps its caches in pipes"])
def test_files_and_pipes_cannot_hold_caches_while_memory_is_measured(tmp_path, via, attack):
    """Writing a file is refused in a process whose memory is measured, and it can open one pipe at most: plain
    backprop that keeps its caches there loses the memory part (in a file, every part: its function raises), and
    the feedback says why."""
    code = IN_PIPES if "pipes" in attack else ELSEWHERE[attack]
    report = _graded(_work(tmp_path), code, via=via, runs="/tmp" not in attack)  # tempfile finds no usable folder
    if "pipes" in attack:
        assert PLAIN_BACKPROP in _memory(report).message, report.text()
        assert [item.name for item in report.items if not item.correct] == ["memory"], report.text()
    else:
        assert report.score == 0, report.text()
        if "/tmp" not in attack:  # there its cell raised, so nothing was defined: test_hostile_memory has the note
            assert FILES_REFUSED in report.text(), report.text()


@pytest.mark.parametrize("socket_number", ["low", "high"])
def test_a_measured_process_writes_no_file_and_opens_few(tmp_path, socket_number):
    """The contrast to the above: an unmeasured process writes files and opens pipes as it likes. Its socket to
    the grader keeps the number it had here: a high one leaves free numbers below it, which are not all given."""
    code = ("import os\nwith open('x.bin', 'wb') as handle:\n    handle.write(bytes(4096))\n"
            "pipes = [os.pipe() for _ in range(8)]\n")
    with StudentProcess.start(tmp_path) as student:
        assert student.run([("cell", code)], 10) == []
    taken = [os.open(os.devnull, os.O_RDONLY) for _ in range(20 if socket_number == "high" else 0)]
    try:
        student = StudentProcess.start(tmp_path)
    finally:
        for fd in taken:
            os.close(fd)
    with student:
        assert student.tune_allocator()
        errors = student.run([("cell", code)], 10)
        assert len(errors) == 1 and "File too large" in errors[0][1], errors
        errors = student.run([("cell", "import os\n" + code.rsplit("\n", 2)[1])], 10)
        assert len(errors) == 1 and "Too many open files" in errors[0][1], errors


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
        by_group, by_size = GroupMeter(group, pid), ResidentMeter(pid)
        assert by_group.floor() and by_size.floor()
        by_group.start()
        by_size.start()
        os.write(go_w, b"x")
        assert os.read(done_r, 7) == b"written"
        by_size.sample()
        by_group.start()  # the peak starts again from what the group holds now: the page cache still holds them
        assert by_group.peak() >= 16 * 2**20
        assert by_size.peak() < 4 * 2**20
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


def test_the_floor_comes_after_the_chapters_imports_and_the_standard_librarys():
    """Preloaded before the floor: every import of the chapter's, and the standard library's imported at the top
    of the student's cells; not another package's, a relative import or one inside a function."""
    program = [(CHAPTER_IMPORTS, "import numpy as np"), (CHAPTER_IMPORTS, "from backprop.checkpoint import checkpoint_plan"),
               ("answer cell", "import fractions, helper_cache\nfrom collections import deque\nfrom . import near\n"
                               "import numpy.linalg\n\ndef f():\n    import decimal\n"),
               (TEST_CELL, "checkpointed-backward-hidden"), ("your cell 9", "%time\nimport statistics")]
    assert preloaded(program) == ["numpy", "backprop.checkpoint", "fractions", "collections", "statistics"]


def test_a_module_in_the_working_folder_is_not_preloaded(tmp_path, monkeypatch):
    """Were the working folder on the module path (the student's process does not put it there), a module there
    (the student's) would still run after the floor, where its memory counts."""
    from autograder.isolation.sandbox import StudentSide

    (tmp_path / "helper_cache.py").write_text("import numpy as np\nPOOL = np.ones(2**20)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    side = StudentSide.__new__(StudentSide)  # its preloading alone, in this process: no connection needed
    side.cell_number = 0
    assert side.op_preload(["helper_cache", "decimal", "no_such_module"]) == 1
    assert "helper_cache" not in sys.modules and "decimal" in sys.modules


def test_pages_in_swap_are_held_too(tmp_path):
    """Pages the code pushed out to swap still count (this machine may have no swap: a process's /proc files as the
    kernel writes them, with 4 MiB swapped)."""
    from autograder.isolation.resident import PAGE_BYTES, held_bytes

    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "statm").write_text("9000 300 120 1 0 800 0\n")
    (tmp_path / "7" / "status").write_text("Name:\tpython\nVmRSS:\t    1200 kB\nVmSwap:\t    4096 kB\nThreads:\t1\n")
    assert held_bytes(7, proc=str(tmp_path)) == 300 * PAGE_BYTES + 4 * 2**20
    (tmp_path / "7" / "status").write_text("Name:\tpython\nThreads:\t1\n")  # a kernel without swap accounting
    assert held_bytes(7, proc=str(tmp_path)) == 300 * PAGE_BYTES
    assert held_bytes(8, proc=str(tmp_path)) is None
    assert held_bytes(os.getpid()) >= resident_bytes(os.getpid())
