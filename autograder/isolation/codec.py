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
issue); frames on a socket are an 8-byte length and the JSON text.
"""
from __future__ import annotations

import base64
import io
import json
import math
import socket
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_DEPTH = 32
MAX_MESSAGE_BYTES = 256 * 2**20
ALLOWED_KINDS = "biufc"  # bool, signed and unsigned ints, floats, complex: no objects, strings or records


class CodecError(ValueError):
    """A value that cannot cross, or a message that is not one this module writes."""


def _array_bytes(array: np.ndarray) -> str:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return base64.b64encode(out.getvalue()).decode("ascii")


def _array_from(text: str) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)
    except (ValueError, TypeError, OSError, EOFError) as error:
        raise CodecError(f"not an array: {error}") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in ALLOWED_KINDS:
        raise CodecError("not an array of numbers")
    return array


def encode(value: Any, handle: Callable[[Any], str] | None = None, depth: int = 0) -> Any:
    """`value` as JSON-ready data. Objects of other types go to `handle` (CodecError without one)."""
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
        return {"__ndarray__": _array_bytes(value)}
    if isinstance(value, np.generic):
        if value.dtype.kind not in ALLOWED_KINDS:
            raise CodecError(f"a NumPy scalar of dtype {value.dtype} cannot be sent")
        return {"__scalar__": _array_bytes(np.asarray(value))}
    if isinstance(value, (list, tuple)):
        items = [encode(item, handle, depth + 1) for item in value]
        return items if isinstance(value, list) else {"__tuple__": items}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise CodecError("a dict with keys that are not strings cannot be sent")
        return {"__dict__": [[key, encode(item, handle, depth + 1)] for key, item in value.items()]}
    if handle is not None:
        return {"__handle__": str(handle(value))}
    raise CodecError(f"a {type(value).__name__} cannot be sent")


def decode(data: Any, resolve: Callable[[str], Any] | None = None, depth: int = 0) -> Any:
    """What `encode` made, back as values; handles go to `resolve` (CodecError without one)."""
    if depth > MAX_DEPTH:
        raise CodecError(f"nested more than {MAX_DEPTH} deep")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(item, resolve, depth + 1) for item in data]
    if not isinstance(data, dict) or len(data) != 1:
        raise CodecError("not a value this codec writes")
    (tag, body), = data.items()
    if tag == "__float__" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "__ndarray__" and isinstance(body, str):
        return _array_from(body)
    if tag == "__scalar__" and isinstance(body, str):
        array = _array_from(body)
        if array.shape != ():
            raise CodecError("a scalar with a shape")
        return array[()]
    if tag == "__tuple__" and isinstance(body, list):
        return tuple(decode(item, resolve, depth + 1) for item in body)
    if tag == "__dict__" and isinstance(body, list):
        if not all(isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) for pair in body):
            raise CodecError("a dict that is not a list of [key, value] pairs")
        return {key: decode(item, resolve, depth + 1) for key, item in body}
    if tag == "__handle__" and isinstance(body, str) and resolve is not None:
        return resolve(body)
    raise CodecError(f"not a value this codec writes (tag {tag!r})")


def dumps(message: Any) -> bytes:
    """A JSON-ready message as one frame: its length (8 bytes, big-endian) and its UTF-8 JSON text."""
    text = json.dumps(message, allow_nan=False, separators=(",", ":")).encode("utf-8")
    if len(text) > MAX_MESSAGE_BYTES:
        raise CodecError(f"a message of {len(text) / 2**20:.0f} MB is over the {MAX_MESSAGE_BYTES // 2**20} MB limit")
    return struct.pack(">Q", len(text)) + text


def send(sock: socket.socket, message: Any) -> None:
    sock.sendall(dumps(message))


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 2**20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(sock: socket.socket, limit: int = MAX_MESSAGE_BYTES) -> Any:
    """One frame's JSON message. EOFError if the other side is gone; CodecError if it is no frame of ours."""
    (size,) = struct.unpack(">Q", _receive_exactly(sock, 8))
    if size > limit:
        raise CodecError(f"a message of {size} bytes is over the limit of {limit}")
    try:
        return json.loads(_receive_exactly(sock, size).decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CodecError(f"not a message: {error}") from None


def _no_constants(name: str) -> Any:
    raise CodecError(f"not a message: bare {name}")
