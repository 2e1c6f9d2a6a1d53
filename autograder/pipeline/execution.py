"""nbgrader's Execute step with a budget for the whole submission and a kernel that may die.

Plain nbgrader gives every cell 30 s, so N looping cells cost N x 30 s, and a kernel that dies
(os._exit, the memory cap) aborts the notebook, which is then left ungraded. Here every cell
gets what is left of one deadline, cells after the deadline are not run (each gets an error
output saying why, so it scores zero), and a dead kernel turns the rest of the notebook into
such errors: the submission is still graded, for what did run.

It also waits for the kernel's messages in short slices. nbclient waits for a cell's reply with
one zmq poll as long as the cell's timeout, and the event loop now and then misses the wake-up
for a message that has arrived (seen with nbgrader 0.9.6, nbclient 0.11, pyzmq 27: the widget
cell of chapter 1 stalled until its timeout in 2 of 100 plain `nbgrader autograde` runs and in a
quarter of ours); when the poll times out, pyzmq looks at the socket once more and finds the
reply, so the cell's outputs and score are right but it cost the whole timeout. A slice of
`poll_slice` seconds bounds that cost and changes nothing else: every deadline stays the same.

What a cell prints is capped (`max_cell_output_bytes`, counted since its last clear_output): past
the cap its streams and displays are dropped and one line says so, so a cell that prints without end costs its time, not the
grader's memory. An error or a cell's result is never dropped (nbgrader reads the score from
them, and a grade cell without its result would count as passed); a result past the cap keeps
only the start of its text.

Starting and stopping a kernel costs no idle time either: jupyter_client's wait_for_ready ends
by listening to IOPub until it has been silent for 0.2 s, and its shutdown polls for the
kernel's exit every 0.1 s; here readiness ends with the kernel's own idle status for the
kernel_info request (nbclient ignores IOPub messages of other requests anyway), and the kernel
is killed and reaped at once.
"""
from __future__ import annotations

import os
import time
from queue import Empty

import zmq
from nbclient.util import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Enum, Float, Integer, Unicode


OUTPUT_CUT = "[output cut: "  # how a cut begins; the grader reads it to name the status


def _output_bytes(msg: dict) -> int:
    """About how much a kernel message adds to a notebook: its text and data, and any binary buffers."""
    content = msg.get("content", {})
    size = len(content.get("text", "")) + sum(len(b) for b in msg.get("buffers", []) or [])
    for value in content.get("data", {}).values():
        size += len(value) if isinstance(value, str) else len(str(value))
    return size


def error_output(name: str, message: str) -> NotebookNode:
    """An error output as a kernel would write it, which nbgrader scores as zero."""
    return NotebookNode(output_type="error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


def sliced(get_msg, slice_s: float):
    """`get_msg(timeout)` of a kernel client's channel, polling at most `slice_s` seconds at a time."""

    async def get_msg_in_slices(timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = slice_s if deadline is None else max(0.0, min(slice_s, deadline - time.monotonic()))
            try:
                return await get_msg(timeout=wait)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return get_msg_in_slices


async def wait_until_ready(kc, timeout: float | None = None, iopub_wait: float = 0.2) -> None:
    """jupyter_client's wait_for_ready, ending as soon as the kernel reports idle after a kernel_info.

    As there: ask for kernel_info until the shell channel replies and IOPub carries a message
    within `iopub_wait` seconds (else IOPub is not connected yet: ask again). Unlike there, no
    0.2 s of IOPub silence is waited for at the end.
    """
    deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
    asked: set[str] = set()
    while True:
        asked.add(kc.kernel_info())
        try:
            reply = await kc.shell_channel.get_msg(timeout=1)
        except Empty:
            reply = None
        if reply is not None and reply["msg_type"] == "kernel_info_reply":
            until = time.monotonic() + iopub_wait
            try:
                while True:
                    message = await kc.iopub_channel.get_msg(timeout=max(0.0, until - time.monotonic()))
                    until = time.monotonic() + iopub_wait  # IOPub is connected: wait for the idle status
                    if (message["msg_type"] == "status" and message["content"].get("execution_state") == "idle"
                            and message["parent_header"].get("msg_id") in asked):
                        kc._handle_kernel_info_reply(reply)
                        return
            except Empty:
                pass
        if not await kc._async_is_alive():
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")


class BudgetedExecute(Execute):
    """Execute with a deadline (time.monotonic() seconds; 0 = none) shared by all cells."""

    deadline = Float(0.0).tag(config=True)
    poll_slice = Float(0.2).tag(config=True)  # longest single wait for a kernel message, seconds
    # The client connects before the kernel has bound its ports; zmq then retries every 100 ms.
    reconnect_ms = Integer(10).tag(config=True)
    # When the last cell has run the kernel has nothing left to give: stop it rather than ask it to
    # shut down and poll for its exit every 0.1 s.
    shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate").tag(config=True)
    stopped = Unicode("")  # why execution stopped early, if it did
    max_cell_output_bytes = Integer(2 * 2**20).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.timeout_func = self._cell_timeout
        self._printed: dict[int, int] = {}  # cell index -> output bytes so far

    def output(self, outs, msg, display_id, cell_index):
        size = _output_bytes(msg)
        before = self._printed.get(cell_index, 0)
        self._printed[cell_index] = before + size
        if before + size <= self.max_cell_output_bytes or msg["msg_type"] == "error":
            return super().output(outs, msg, display_id, cell_index)
        if msg["msg_type"] == "execute_result":
            data = msg["content"].get("data", {})
            msg["content"]["data"] = {"text/plain": str(data.get("text/plain", ""))[:1000]}
            return super().output(outs, msg, display_id, cell_index)
        if before <= self.max_cell_output_bytes:  # the first output past the cap
            note = NotebookNode(output_type="stream", name="stdout",
                                text=f"\n{OUTPUT_CUT}this cell printed more than "
                                     f"{self.max_cell_output_bytes / 2**20:g} MB; the rest was dropped]\n")
            outs.append(note)
        return None

    def clear_output(self, outs, msg, cell_index):
        super().clear_output(outs, msg, cell_index)
        self._printed[cell_index] = 0  # what is cleared is no longer kept (an animation redraws in place)

    def _cell_timeout(self, cell: NotebookNode) -> int | None:
        per_cell = self.timeout if self.timeout and self.timeout > 0 else None
        if not self.deadline:
            return per_cell
        left = max(1, int(self.deadline - time.monotonic()))
        return left if per_cell is None else min(per_cell, left)

    def start_new_kernel_client(self):
        make_client = self.km.client

        def client(**kwargs):
            kc = make_client(**kwargs)
            kc.context.setsockopt(zmq.RECONNECT_IVL, self.reconnect_ms)  # for the sockets it is about to open
            kc.wait_for_ready = lambda timeout=None: wait_until_ready(kc, timeout)
            return kc

        self.km.client = client
        kc = super().start_new_kernel_client()
        for channel in (kc.shell_channel, kc.iopub_channel):
            channel.get_msg = sliced(channel.get_msg, self.poll_slice)
        return kc

    async def _async_cleanup_kernel(self) -> None:
        if self.shutdown_kernel == "immediate" and self.km is not None and self.km.has_kernel:
            await self.km.provisioner.kill()
            self.km.provisioner.process.wait()  # killed: it exits at once
        await super()._async_cleanup_kernel()
        reclaim(self.resources.get("metadata", {}).get("path") or "")

    # nbconvert's Execute calls the synchronous form, which nbclient made from its own coroutine.
    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    def preprocess_cell(self, cell, resources, index):
        # nbconvert calls this for every cell (nbclient's execute_cell is bound to its own coroutine,
        # so this is the hook that subclasses see).
        if cell.cell_type != "code" or not cell.source.strip():
            return super().preprocess_cell(cell, resources, index)
        if not self.stopped and self.deadline and time.monotonic() >= self.deadline:
            self.stopped = "time limit"
        if self.stopped:
            cell.outputs = [error_output("NotRun", f"not run: the submission's {self.stopped} was reached")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self.stopped = f"kernel died in cell {index + 1}"
            cell.outputs.append(error_output("KernelDied", "the kernel died running this cell (memory cap, or an exit)"))
            return cell, resources


def reclaim(folder: str) -> None:
    """The kernel is gone: a jailed kernel's working folder goes back to the grader before nbgrader writes the
    graded notebook there, so nothing left running as the student's uid can swap that file for a link
    (which the grader would follow) in the moments before it is killed."""
    if not folder or os.geteuid() != 0 or os.stat(folder).st_uid == 0:
        return
    os.chown(folder, 0, 0)  # first: from now on only the grader can add or replace what is in it
    os.chmod(folder, 0o755)
    for entry in os.scandir(folder):
        if entry.is_symlink():
            os.unlink(entry.path)
