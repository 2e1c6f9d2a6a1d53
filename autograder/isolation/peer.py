"""One end of the connection between the grader and the process that holds a student's code.

Both ends are a Peer: each sends requests ({"op": ...}) and answers the other's, one at a time
and nested (the grader calls a student's function, which calls back a function the grader gave
it, which may call the student's code again). Values cross as codec data; anything else stays
where it lives and crosses as a handle, "<side><number>:<kind>[:<attributes>]": the side that
owns it ("s" the student's process, "t" the trusted grader), whether it is a function (c), a
class (k) or another object (o), and for the grader's objects the attributes the other side
may read. The other side sees a stand-in (a proxy) that turns calls into requests.

What a side exports is what the other may touch: the grader exports only what it hands over (a
callback, a layer it lends), and answers only calls of those and reads of the attributes each
declares (`remote_attributes`).
"""
from __future__ import annotations

import socket
import time
import weakref
from collections.abc import Callable
from typing import Any

from autograder.calling import GradingStopped
from autograder.isolation import codec


class RemoteError(Exception):
    """An exception raised on the other side, as one line (`description`, which describe_exception shows)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class PeerStopped(GradingStopped):
    """The other side is gone, out of time, or sent what is not a message."""


SHARED_PACKAGE = "backprop"  # importable on both sides: its functions cross by name and run where they are called


def shared_name(value: Any) -> str | None:
    """'r:<module>:<name>' for a function of the reference package that its module names, else None."""
    module, name = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not (isinstance(module, str) and isinstance(name, str) and module.split(".")[0] == SHARED_PACKAGE):
        return None
    try:
        return f"r:{module}:{name}" if reference_function(f"r:{module}:{name}") is value else None
    except codec.CodecError:
        return None


def reference_function(handle: str) -> Any:
    """The reference package's function a shared name names."""
    import importlib

    _, module, name = (handle.split(":") + ["", ""])[:3]
    if module.split(".")[0] != SHARED_PACKAGE:
        raise codec.CodecError(f"not a function of the reference package: {handle!r}")
    try:
        value: Any = importlib.import_module(module)
        for part in name.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError):
        raise codec.CodecError(f"no function {handle!r}") from None
    if not callable(value) or getattr(value, "__module__", None) != module or getattr(value, "__qualname__", None) != name:
        raise codec.CodecError(f"not a function of the reference package: {handle!r}")  # np.save reached through it, say
    return value


def kind_of(value: Any) -> str:
    return "k" if isinstance(value, type) else "c" if callable(value) else "o"


class Peer:
    """Requests out, answers in, handles both ways. Subclasses say what their ops do (`op_<name>`)
    and what stands in for the other side's handles (`proxy`)."""

    side = ""

    def __init__(self, sock: socket.socket, receive_limit: int = codec.MAX_MESSAGE_BYTES) -> None:
        self.sock = sock
        self.receive_limit = receive_limit
        self.objects: dict[str, Any] = {}
        self.handles: dict[int, str] = {}  # id(object) -> its handle, so one object keeps one handle
        self.proxies: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()  # dropped when unused
        self.deadline: float | None = None

    # ---- values ----------------------------------------------------------------------------

    def attributes_of(self, value: Any) -> tuple[str, ...]:
        return ()

    def export(self, value: Any) -> str:
        own = getattr(value, "_handle", None)
        if isinstance(own, str) and self.proxies.get(own) is value:
            return own  # the other side's object, going home
        if callable(value) and (shared := shared_name(value)) is not None:
            return shared
        handle = self.handles.get(id(value))
        if handle is None or self.objects.get(handle) is not value:
            attributes = ",".join(self.attributes_of(value))
            handle = f"{self.side}{len(self.objects) + 1}:{kind_of(value)}" + (f":{attributes}" if attributes else "")
            self.objects[handle] = value
            self.handles[id(value)] = handle
        return handle

    def resolve(self, handle: str) -> Any:
        if handle.startswith("r:"):
            return reference_function(handle)
        if handle.startswith(self.side):
            if handle not in self.objects:
                raise codec.CodecError(f"no object {handle!r} here")
            return self.objects[handle]
        found = self.proxies.get(handle)
        if found is None:
            found = self.proxies[handle] = self.proxy(handle)
        return found

    def proxy(self, handle: str) -> Any:
        raise NotImplementedError

    def encode(self, value: Any, buffers: list[bytes]) -> Any:
        """`value` as message data; its arrays' bytes go to `buffers`, sent after the message."""
        return codec.encode(value, handle=self.export, buffers=buffers)

    def decode(self, data: Any, message: dict) -> Any:
        """Data of `message` (a message received) as values, its arrays read from the frames that came with it."""
        return codec.decode(data, resolve=self.resolve, buffers=message.get(codec.BUFFERS, ()))

    # ---- messages ----------------------------------------------------------------------------

    def _send(self, message: dict, buffers: list[bytes]) -> None:
        try:
            codec.send(self.sock, message, buffers)
        except OSError as error:
            raise PeerStopped(f"the connection broke ({error})") from None

    def _receive(self) -> Any:
        if self.deadline is not None:
            self.sock.settimeout(max(0.001, self.deadline - time.monotonic()))
        try:
            message = codec.receive(self.sock, self.receive_limit)
        except TimeoutError:
            raise PeerStopped("time limit") from None
        except (EOFError, OSError) as error:
            raise PeerStopped(f"the other side ended ({error})") from None
        except codec.CodecError as error:
            raise PeerStopped(f"a message that is not one of ours ({error})") from None
        if not isinstance(message, dict):
            raise PeerStopped("a message that is not one of ours")
        return message

    def request(self, op: str, **fields: Any) -> Any:
        """Ask the other side to do `op`; answer its requests meanwhile; return its reply, decoded."""
        buffers: list[bytes] = []
        self._send({"op": op, **{name: self.encode(value, buffers) for name, value in fields.items()}}, buffers)
        while True:
            message = self._receive()
            if "reply" in message:
                try:
                    return self.decode(message["reply"], message)
                except codec.CodecError as error:
                    raise PeerStopped(f"a reply that is not a value ({error})") from None
            if "raise" in message:
                raise RemoteError(str(message["raise"])[:2000])
            if "note" in message:  # told, not asked: no reply
                self.on_note(message["note"])
                continue
            self.answer(message)

    def answer(self, message: dict) -> None:
        """Do what one request asks and send the reply (or the exception, as one line)."""
        op = message.get("op")
        method: Callable[..., Any] | None = getattr(self, f"op_{op}", None) if isinstance(op, str) else None
        buffers: list[bytes] = []
        try:
            if method is None:
                raise codec.CodecError(f"no operation {op!r}")
            fields = {name: self.decode(value, message) for name, value in message.items()
                      if name not in ("op", codec.BUFFERS)}
            result = method(**fields)
            reply = {"reply": self.encode(result, buffers)}
        except GradingStopped:
            raise
        except RemoteError as error:
            reply, buffers = {"raise": error.description}, []
        except BaseException as error:  # noqa: BLE001 - whatever the code did, the other side gets one line
            reply, buffers = {"raise": self.describe(error)}, []
        self._send(reply, buffers)

    def on_note(self, note: Any) -> None:
        """The other side tells something that needs no reply (see GraderSide): ignored unless a side knows it."""

    def describe(self, error: BaseException) -> str:
        return f"raised {type(error).__name__}: {error}"

    def op_release(self, handles: list) -> None:
        for handle in handles:
            value = self.objects.pop(str(handle), None)
            if value is not None:
                self.handles.pop(id(value), None)
