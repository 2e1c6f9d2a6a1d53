"""Values that cross between the grader and a process running student code: JSON, never a pickle.

What a student's process sends back is data, decoded strictly: None, bools, ints, floats (NaN
and infinities included), strings, lists, tuples, dicts with string keys, NumPy arrays of
numeric or boolean dtype (in NumPy's own .npy format, read with allow_pickle=False) and NumPy
scalars (kept as NumPy scalars, so a float64 stays a float64). Anything else cannot be sent; a
value that is too deep or too large, or a message that is not what this module writes, raises
CodecError. Objects that must stay on their side (a callback, a student's object) are sent
as handles: `encode` asks `handle(value)` for an id, and `decode` asks `resolve(id)` for what
stands in for it.

This is the wire format for grading outside the student's process (the hostile-submission
issue); frames on a socket are an 8-byte length and the JSON text. Arrays in a message sent on a
socket travel after it, each as a frame of its .npy bytes, so that their bytes are neither
base64-encoded nor scanned as JSON text: the message then says how many such frames follow
(`__buffers__`) and each array names its frame by index. Alone (`encode` without `buffers`), an
array is its .npy bytes in base64.
"""
from __future__ import annotations

import base64
import io
import json
import math
import socket
import struct
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

MAX_DEPTH = 32
MAX_MESSAGE_BYTES = 256 * 2**20
BUFFERS = "__buffers__"  # a message's field: how many array frames follow it (received: those frames' bytes)
MAX_BUFFERS = 100_000
ALLOWED_KINDS = "biufc"  # bool, signed and unsigned ints, floats, complex: no objects, strings or records


class CodecError(ValueError):
    """A value that cannot cross, or a message that is not one this module writes."""


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


def _array_bytes(array: np.ndarray) -> str:
    return base64.b64encode(_npy(array)).decode("ascii")


def _array_from_npy(raw: bytes) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, TypeError, OSError, EOFError) as error:
        raise CodecError(f"not an array: {error}") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in ALLOWED_KINDS:
        raise CodecError("not an array of numbers")
    return array


def _array_from(text: str) -> np.ndarray:
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as error:
        raise CodecError(f"not an array: {error}") from None
    return _array_from_npy(raw)


def encode(value: Any, handle: Callable[[Any], str] | None = None, depth: int = 0,
           buffers: list[bytes] | None = None) -> Any:
    """`value` as JSON-ready data. Objects of other types go to `handle` (CodecError without one). With `buffers`,
    each array's .npy bytes are appended there and the data names them by index (see the module's docstring)."""
    if depth > MAX_DEPTH:
        raise CodecError(f"nested more than {MAX_DEPTH} deep")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and not isinstance(value, np.integer):
        return value
    if isinstance(value, float) and not isinstance(value, np.floating):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in ALLOWED_KINDS:
            raise CodecError(f"an array of dtype {value.dtype} cannot be sent (numbers and booleans only)")
        if buffers is not None:
            buffers.append(_npy(value))
            return {"__ndarray__": len(buffers) - 1}
        return {"__ndarray__": _array_bytes(value)}
    if isinstance(value, np.generic):
        if value.dtype.kind not in ALLOWED_KINDS:
            raise CodecError(f"a NumPy scalar of dtype {value.dtype} cannot be sent")
        return {"__scalar__": _array_bytes(np.asarray(value))}
    if isinstance(value, (list, tuple)):
        items = [encode(item, handle, depth + 1, buffers) for item in value]
        return items if isinstance(value, list) else {"__tuple__": items}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise CodecError("a dict with keys that are not strings cannot be sent")
        return {"__dict__": [[key, encode(item, handle, depth + 1, buffers)] for key, item in value.items()]}
    if handle is not None:
        return {"__handle__": str(handle(value))}
    raise CodecError(f"a {type(value).__name__} cannot be sent")


def decode(data: Any, resolve: Callable[[str], Any] | None = None, depth: int = 0,
           buffers: Sequence[bytes] = ()) -> Any:
    """What `encode` made, back as values; handles go to `resolve` (CodecError without one), arrays named by index
    are read from `buffers` (the frames that came with the message)."""
    if depth > MAX_DEPTH:
        raise CodecError(f"nested more than {MAX_DEPTH} deep")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(item, resolve, depth + 1, buffers) for item in data]
    if not isinstance(data, dict) or len(data) != 1:
        raise CodecError("not a value this codec writes")
    (tag, body), = data.items()
    if tag == "__float__" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "__ndarray__" and isinstance(body, str):
        return _array_from(body)
    if tag == "__ndarray__" and type(body) is int and 0 <= body < len(buffers):
        return _array_from_npy(buffers[body])
    if tag == "__scalar__" and isinstance(body, str):
        array = _array_from(body)
        if array.shape != ():
            raise CodecError("a scalar with a shape")
        return array[()]
    if tag == "__tuple__" and isinstance(body, list):
        return tuple(decode(item, resolve, depth + 1, buffers) for item in body)
    if tag == "__dict__" and isinstance(body, list):
        if not all(isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) for pair in body):
            raise CodecError("a dict that is not a list of [key, value] pairs")
        return {key: decode(item, resolve, depth + 1, buffers) for key, item in body}
    if tag == "__handle__" and isinstance(body, str) and resolve is not None:
        return resolve(body)
    raise CodecError(f"not a value this codec writes (tag {tag!r})")


def dumps(message: Any, buffers: Sequence[bytes] = ()) -> bytes:
    """A JSON-ready message as one frame, its length (8 bytes, big-endian) and its UTF-8 JSON text, then a frame
    for each of `buffers` (the message, a dict, then says how many)."""
    if buffers:
        message = {**message, BUFFERS: len(buffers)}
    text = json.dumps(message, allow_nan=False, separators=(",", ":")).encode("utf-8")
    size = len(text) + sum(len(buffer) for buffer in buffers)
    if size > MAX_MESSAGE_BYTES:
        raise CodecError(f"a message of {size / 2**20:.0f} MB is over the {MAX_MESSAGE_BYTES // 2**20} MB limit")
    return b"".join([struct.pack(">Q", len(text)), text,
                     *(part for buffer in buffers for part in (struct.pack(">Q", len(buffer)), buffer))])


def send(sock: socket.socket, message: Any, buffers: Sequence[bytes] = ()) -> None:
    sock.sendall(dumps(message, buffers))


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 2**20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _frame(sock: socket.socket, limit: int) -> bytes:
    (size,) = struct.unpack(">Q", _receive_exactly(sock, 8))
    if size > limit:
        raise CodecError(f"a message of {size} bytes is over the limit of {limit}")
    return _receive_exactly(sock, size)


def receive(sock: socket.socket, limit: int = MAX_MESSAGE_BYTES) -> Any:
    """One JSON message, and the array frames it says follow it, in its BUFFERS field as a list of bytes (all of it
    within `limit` bytes). EOFError if the other side is gone; CodecError if it is no frame of ours."""
    text = _frame(sock, limit)
    try:
        message = json.loads(text.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CodecError(f"not a message: {error}") from None
    if isinstance(message, dict) and BUFFERS in message:
        count = message[BUFFERS]
        if type(count) is not int or not 0 < count <= MAX_BUFFERS:
            raise CodecError(f"not a message: {BUFFERS} is {count!r}")
        left, buffers = limit - len(text), []
        for _ in range(count):
            buffers.append(_frame(sock, left))
            left -= len(buffers[-1])
        message[BUFFERS] = buffers
    return message


def _no_constants(name: str) -> Any:
    raise CodecError(f"not a message: bare {name}")
