"""The kernel server and its stand-in (autograder/pipeline/limited_kernel.py): what happens when a kernel or a
student process cannot be had from the server. Student code must then not run at all, rather than run
outside the jail the server would have put it in. Grading with the server is tested in test_grade.py and
test_hostile.py."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.calling import GradingStopped
from autograder.isolation.jail import problem
from autograder.isolation.remote import StudentProcess
from autograder.pipeline import grade as grading
from autograder.pipeline.course import CourseError
from autograder.pipeline.limited_kernel import JAIL_FAILED, read_message
from autograder.pipeline.release import released_copy
from test_release import REPO, project_environment  # noqa: F401 - fixture

LIMITED_KERNEL = grading.LIMITED_KERNEL


def test_a_pid_and_an_exit_status_read_at_once_are_two_messages():
    """The server writes a kernel's pid, then (once it ends) its status; a slow reader gets both in one read."""
    server, client = socket.socketpair()
    server.sendall(b'{"pid": 4242}\n{"status": 256}\n')
    server.close()
    replies = client.makefile("rb")
    assert read_message(replies) == {"pid": 4242}
    assert read_message(replies) == {"status": 256}
    assert read_message(replies) is None


@pytest.mark.parametrize("sent", [b'{"pid": 1', b"not json\n", b"[1, 2]\n", b""])
def test_a_cut_or_malformed_reply_is_no_message(sent):
    server, client = socket.socketpair()
    server.sendall(sent)
    server.close()
    assert read_message(client.makefile("rb")) is None


def test_a_stand_in_with_no_server_starts_no_kernel(tmp_path):
    """Not the plain way either: that kernel would run the student's code as the grader."""
    connection = tmp_path / "kernel.json"
    result = subprocess.run([sys.executable, str(LIMITED_KERNEL), "--memory-mb", "512", "--cpu-s", "30",
                             "--via", str(tmp_path / "no-server.sock"), "--", "-f", str(connection)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result
    assert "limited_kernel: no kernel:" in result.stderr, result.stderr
    assert not connection.exists()  # a kernel would have written it


def test_a_student_process_asked_of_a_missing_server_is_an_error(tmp_path):
    with pytest.raises(OSError, match="the kernel server started no process for the student's code"):
        StudentProcess.start(tmp_path, via=str(tmp_path / "no-server.sock"))


def test_a_kernel_dies_with_the_process_that_started_it(tmp_path):
    """A worker the grader stops takes its kernel with it, so the grader never signals a pid of its own choosing."""
    child = ("import sys, time\nsys.path.insert(0, %r)\nfrom limited_kernel import die_with_parent\n"
             "die_with_parent()\nprint('ready', flush=True)\ntime.sleep(60)\n" % str(LIMITED_KERNEL.parent))
    parent = ("import subprocess, sys\np = subprocess.Popen([sys.executable, '-c', %r], stdout=subprocess.PIPE, "
              "text=True)\nprint(p.pid, p.stdout.readline().strip(), flush=True)\n" % child)
    out = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, timeout=60).stdout.split()
    assert out[1:] == ["ready"], out
    pid = int(out[0])
    for _ in range(100):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"process {pid} outlived the process that started it")


@pytest.mark.skipif(problem() is not None, reason=f"no jail here: {problem()}")
def test_a_process_the_server_cannot_jail_runs_nothing_and_says_why(tmp_path):
    """A jail root that cannot be mounted on (a file): the server's child reports it in the server's log and
    exits with JAIL_FAILED before any student code runs."""
    sock, log = tmp_path / "kernels.sock", tmp_path / "server.log"
    (tmp_path / "not-a-folder").write_text("")
    (tmp_path / "work").mkdir()
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, str(LIMITED_KERNEL), "--serve", str(sock), "--memory-mb", "1024",
                                   "--cpu-s", "30", "--processes", "8", "--jail-root", str(tmp_path / "not-a-folder")],
                                  stdin=subprocess.PIPE, stdout=out, stderr=out)
    try:
        assert grading._kernel_server_ready(server, sock), log.read_text()
        conn, (mine, theirs) = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), socket.socketpair()
        conn.connect(str(sock))
        request = {"sandbox": True, "cwd": str(tmp_path / "work"), "env": {}}
        socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [theirs.fileno()] * 3)
        replies = conn.makefile("rb")
        assert "pid" in read_message(replies)
        assert os.waitstatus_to_exitcode(read_message(replies)["status"]) == JAIL_FAILED
        student = StudentProcess.start(tmp_path / "work", via=str(sock))
        with pytest.raises(GradingStopped):
            student.run([("cell", "open('ran.txt', 'w').write('student code ran')")], 10)
        student.close()
        assert not (tmp_path / "work" / "ran.txt").exists()
        deadline = time.monotonic() + 10
        while "could not jail" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "uid " in log.read_text() and "could not jail the student's process" in log.read_text(), log.read_text()
    finally:
        server.stdin.close()
        server.wait(10)


def test_grading_stops_when_the_jailing_server_does_not_start(tmp_path, monkeypatch):
    """Where kernels would be jailed, a server that fails to start ends the run with what it printed, rather
    than grading every submission outside a jail."""
    monkeypatch.setattr(grading, "_jails", lambda limits: True)
    monkeypatch.setattr(grading, "_start_kernel_server", lambda folder, limits, preload: None)
    root = _course_with_a_submission(tmp_path)
    with pytest.raises(CourseError, match="did not start; not grading without it"):
        grading.grade(root, "ch01_chain_rule", jobs=1, progress=False)
    assert not (root / "autograded").exists()


def _course_with_a_submission(tmp_path: Path) -> Path:
    chapter = "ch01_chain_rule"
    root = released_copy(REPO, chapter, tmp_path / "course")
    folder = root / "submitted" / "ann" / chapter
    folder.mkdir(parents=True)
    shutil.copy(root / "release" / chapter / f"{chapter}.ipynb", folder)
    return root


SERVER_CHILD_FIRST = """
import selectors, sys
sys.path.insert(0, %r)
import limited_kernel


class ChildFirst(selectors.DefaultSelector):
    def select(self, timeout=None):  # the order that once ended the server
        return sorted(super().select(timeout), key=lambda event: event[0].data != "child")


selectors.DefaultSelector = ChildFirst
sys.argv[1:] = ["--serve", %r, "--memory-mb", "1024", "--cpu-s", "30"]
limited_kernel.main()
"""


def test_a_process_that_ends_as_its_connection_closes_leaves_the_server_serving(tmp_path):
    """Its end and the close reach the server in one batch of events, the end first: the close's event is then
    stale (that connection is closed already) and must be skipped, not read."""
    sock = tmp_path / "kernels.sock"
    (tmp_path / "work").mkdir()
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-c", SERVER_CHILD_FIRST % (str(LIMITED_KERNEL.parent), str(sock))],
                                  stdin=subprocess.PIPE, stdout=log, stderr=log)
    try:
        assert grading._kernel_server_ready(server, sock), (tmp_path / "server.log").read_text()
        student = StudentProcess.start(tmp_path / "work", via=str(sock))
        os.kill(server.pid, signal.SIGSTOP)
        os.kill(student.pid, signal.SIGKILL)
        student.close()
        time.sleep(0.3)
        os.kill(server.pid, signal.SIGCONT)
        time.sleep(0.5)
        assert server.poll() is None, (tmp_path / "server.log").read_text()
        with StudentProcess.start(tmp_path / "work", via=str(sock)) as again:
            assert again.run([("cell", "x = 6 * 7")], 10) == []
            assert again.namespace()["x"] == 42
    finally:
        server.stdin.close()
        server.wait(10)
