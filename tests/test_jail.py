"""The jail (autograder/isolation/jail.py), entered by a forked child that reports what it can see and do.

These need Linux and root; elsewhere they are skipped with the reason (and `bpcourse grade` says the
jail is missing). The grading-level attacks are in test_hostile.py.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.isolation.jail import FIRST_UID, Jail, JailError, UidPool, enter, problem

pytestmark = pytest.mark.skipif(problem() is not None, reason=f"no jail here: {problem()}")
REPO = Path(__file__).resolve().parents[1]

PROBE = """
import json, os, socket, sys, time
from pathlib import Path
from autograder.isolation.jail import Jail, enter
jail, workdir, uid, secret, network = json.loads(sys.argv[1])
enter(Jail(Path(jail[0]), tuple(jail[1]), jail[2]), workdir, uid, network=network)
seen = {}
seen["uid"] = os.getuid()
seen["cwd"] = os.getcwd()
seen["secret"] = os.path.exists(secret)
seen["course source"] = os.path.exists(%r)
seen["packages"] = __import__("backprop").__name__ == "backprop" and os.path.exists(%r)
Path("mine.txt").write_text("ok")
seen["wrote here"] = Path("mine.txt").read_text() == "ok"
try:
    Path("/usr/mine.txt").write_text("no")
    seen["wrote /usr"] = True
except OSError:
    seen["wrote /usr"] = False
try:
    socket.create_connection(("127.0.0.1", 9), timeout=1)
    seen["network"] = "connected"
except OSError as error:
    seen["network"] = error.strerror or str(error)
children = 0
try:
    while children < 1000:
        if os.fork() == 0:
            os.close(1)  # the parent's reader waits for every writer to close
            os.close(2)
            time.sleep(60)
            os._exit(0)
        children += 1
except OSError:
    pass
seen["children"] = children
print(json.dumps(seen))
""" % (str(REPO / "source"), str(REPO / "autograder" / "grading.py"))


def _probe(tmp_path: Path, uid: int, network: bool, processes: int = 16) -> dict:
    secret = tmp_path / "secret.txt"
    secret.write_text("the answers")
    workdir = tmp_path / "work"
    workdir.mkdir()
    (tmp_path / "root").mkdir()
    jail = Jail.for_course(tmp_path / "root", processes)
    argument = json.dumps([[str(jail.root), list(jail.shown), processes], str(workdir), uid, str(secret), network])
    result = subprocess.run([sys.executable, "-c", PROBE, argument], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_jailed_process_sees_only_its_folder_and_the_packages(tmp_path):
    uid = FIRST_UID + 999
    try:
        seen = _probe(tmp_path, uid, network=False)
    finally:
        from autograder.isolation.jail import kill_everything_of

        kill_everything_of(uid)
    assert seen["uid"] == uid and seen["cwd"] == str(tmp_path / "work")
    assert (seen["secret"], seen["course source"], seen["packages"]) == (False, False, True)
    assert (seen["wrote here"], seen["wrote /usr"]) == (True, False)
    assert seen["network"] == "Network is unreachable"
    assert 0 < seen["children"] < 16  # the cap counts the uid's processes and threads
    assert (tmp_path / "work" / "mine.txt").stat().st_uid == uid


def test_a_uid_comes_back_only_after_what_ran_as_it_is_killed(tmp_path):
    pool = UidPool(first=FIRST_UID + 990, size=2, locks=tmp_path / "locks")
    first, second = pool.take(), pool.take()
    with pytest.raises(JailError, match="every uid of the pool is in use"):
        pool.take()
    seen = _probe(tmp_path, first, network=True)
    assert seen["children"] > 0
    pool.hold(12345, first)
    pool.release(12345)  # the probe's sleeping children are killed here

    def running_as(uid: int) -> list[str]:
        out = subprocess.run(["ps", "-o", "pid=,stat=", "-u", str(uid)], capture_output=True, text=True).stdout
        return [line for line in out.splitlines() if "Z" not in line.split()[-1]]  # zombies wait for init

    assert running_as(first) == []
    assert pool.take() == first and second != first


def test_a_jail_that_cannot_be_made_stops_the_process(tmp_path):
    """A working folder that does not exist: the child raises and never runs unjailed."""
    code = ("import sys\nfrom pathlib import Path\nfrom autograder.isolation.jail import Jail, JailError, enter\n"
            "try:\n    enter(Jail(Path(sys.argv[1]), ()), '/no/such/folder', %d)\n"
            "except JailError as error:\n    print('refused:', error)\n    sys.exit(3)\n" % (FIRST_UID + 998))
    (tmp_path / "root").mkdir()
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "root")], capture_output=True, text=True)
    assert result.returncode == 3 and "could not jail" in result.stdout, (result.stdout, result.stderr)
    assert os.getuid() == 0


def test_two_pools_at_once_never_hand_out_the_same_uid(tmp_path):
    """Two grading runs on one machine: each kernel server has a pool, and a uid one holds the other skips
    (else one run's sweep would kill the other's kernels)."""
    code = ("import sys, time\nfrom pathlib import Path\nfrom autograder.isolation.jail import UidPool, FIRST_UID\n"
            "pool = UidPool(first=FIRST_UID + 980, size=3, locks=Path(sys.argv[1]))\n"
            "print(pool.take(), flush=True)\ntime.sleep(30)\n")
    other = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        theirs = int(other.stdout.readline())
        mine = UidPool(first=FIRST_UID + 980, size=3, locks=tmp_path)
        taken = [mine.take(), mine.take()]
        assert theirs not in taken and len(set(taken)) == 2
        with pytest.raises(JailError):
            mine.take()
    finally:
        other.kill()
        other.wait()
    assert UidPool(first=FIRST_UID + 980, size=3, locks=tmp_path).take() == theirs  # its run ended: the lock went
