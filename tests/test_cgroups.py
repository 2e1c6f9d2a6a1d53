"""The pids cgroups that cap a jailed uid's tasks and count what the cap refused (autograder/isolation/cgroups.py)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from autograder.isolation.cgroups import UidCgroups

UID = 60999  # below the jail's pool, so no grading run holds its group


def _groups(cap: int) -> UidCgroups:
    groups = UidCgroups.here(cap)
    if groups is None:
        pytest.skip("no writable pids controller here (Linux, as root): the jail caps with RLIMIT_NPROC alone")
    return groups


def _forks_in_group(groups: UidCgroups, tries: int) -> tuple[int, int]:
    """A child that joins the group and forks `tries` times: (forks that started, forks refused), as it saw them."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        started = refused = 0
        try:
            groups.join(UID)
            children = []
            for _ in range(tries):
                try:
                    child = os.fork()
                except OSError:
                    refused += 1
                    continue
                if child == 0:
                    time.sleep(5)
                    os._exit(0)
                children.append(child)
            started = len(children)
            for child in children:
                os.kill(child, 9)
                os.waitpid(child, 0)
        finally:
            os.write(write, f"{started} {refused}".encode())
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as seen:
        started, refused = map(int, seen.read().split())
    return started, refused


def test_the_cap_refuses_and_counts_every_fork_past_it():
    groups = _groups(cap=4)
    groups.take(UID)
    try:
        started, refused = _forks_in_group(groups, tries=10)
        assert (started, refused) == (3, 7)  # the child itself is the fourth task
        assert groups.refused(UID) == 7
    finally:
        groups.give_back(UID)
    assert not (groups.pids / f"uid{UID}").exists()


def test_a_group_taken_again_counts_from_zero():
    groups = _groups(cap=2)
    groups.take(UID)
    _forks_in_group(groups, tries=3)
    assert groups.refused(UID) == 2
    groups.take(UID)  # as a uid handed out again would be, even if its group could not be removed
    try:
        assert groups.refused(UID) == 0
        assert _forks_in_group(groups, tries=1) == (1, 0)
        assert groups.refused(UID) == 0
    finally:
        groups.give_back(UID)


def test_threads_count_against_the_cap_too():
    groups = _groups(cap=3)
    groups.take(UID)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        import threading

        refused = 0
        try:
            groups.join(UID)
            for _ in range(5):
                try:
                    threading.Thread(target=time.sleep, args=(2,), daemon=True).start()
                except RuntimeError:
                    refused += 1
        finally:
            os.write(write, str(refused).encode())
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    try:
        with os.fdopen(read) as seen:
            assert int(seen.read()) == 3
        assert groups.refused(UID) == 3
    finally:
        time.sleep(0.1)
        groups.give_back(UID)


@pytest.mark.parametrize("layout", ["none", "v1 without a pids folder", "v2 without the pids controller"])
def test_a_machine_without_a_pids_controller_has_no_groups(tmp_path: Path, layout: str):
    if layout == "v1 without a pids folder":
        (tmp_path / "memory").mkdir()
        (tmp_path / "memory" / "cgroup.procs").write_text("")
    elif layout == "v2 without the pids controller":
        (tmp_path / "cgroup.controllers").write_text("cpu memory io\n")
    assert UidCgroups.here(8, cgroups=tmp_path) is None


def test_a_folder_that_is_not_a_cgroup_is_refused(tmp_path: Path):
    """It looks like a v1 pids hierarchy but has no pids.events: the probe fails, so no groups (the jail
    then caps with RLIMIT_NPROC, which it could never check)."""
    (tmp_path / "pids").mkdir()
    (tmp_path / "pids" / "cgroup.procs").write_text("")
    assert UidCgroups.here(8, cgroups=tmp_path) is None


def test_groups_that_no_process_can_join_are_refused(tmp_path: Path):
    """A v2 layout where the probe's group is made and counts, but a process cannot join it (its cgroup.procs
    cannot be written): no groups, so that the jail still starts kernels (capped by RLIMIT_NPROC)."""
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    probe = tmp_path / "bpcourse" / f"probe{os.getpid()}"  # the name UidCgroups.here gives its probe
    probe.mkdir(parents=True)
    (probe / "pids.events").write_text("max 0\n")
    (probe / "cgroup.procs").mkdir()  # writing it fails
    assert UidCgroups.here(8, cgroups=tmp_path) is None
    (probe / "cgroup.procs").rmdir()  # the contrast: a group that can be joined is taken
    groups = UidCgroups.here(8, cgroups=tmp_path)
    assert groups is not None and groups.pids == tmp_path / "bpcourse"
