"""The codec for values crossing to and from a student's process: exact round trips, and nothing else gets in."""
from __future__ import annotations

import json
import math
import pickle
import socket
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder.isolation.codec import BUFFERS, MAX_DEPTH, CodecError, decode, dumps, encode, receive, send

NUMERIC_DTYPES = st.sampled_from([np.bool_, np.int8, np.int32, np.int64, np.uint16, np.float16, np.float32,
                                  np.float64, np.complex128])
arrays = NUMERIC_DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)))
leaves = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20) | arrays
          | NUMERIC_DTYPES.flatmap(lambda dtype: hnp.from_dtype(np.dtype(dtype)).map(lambda v: np.dtype(dtype).type(v))))
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


def same(a, b) -> bool:
    """Equal in value and in type, NaN equal to NaN, arrays equal in dtype, shape and bits."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def through_the_wire(value):
    frame = dumps(encode(value))
    (size,) = struct.unpack(">Q", frame[:8])
    assert size == len(frame) - 8
    return decode(json.loads(frame[8:]))


@given(values)
def test_every_value_comes_back_exactly_with_its_type(value):
    assert same(through_the_wire(value), value)


def test_numpy_scalars_lists_and_tuples_keep_their_kind():
    back = through_the_wire({"loss": np.float64(0.25), "plain": 0.25, "pair": (1, 2), "list": [1, 2]})
    assert type(back["loss"]) is np.float64 and type(back["plain"]) is float
    assert back["pair"] == (1, 2) and back["list"] == [1, 2]


@pytest.mark.parametrize("value", [np.array(["a", "b"]), np.array([object()], dtype=object), {1: 2}, object(),
                                   lambda x: x, np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])])
def test_what_is_not_plain_data_cannot_be_sent(value):
    with pytest.raises(CodecError):
        encode(value)


def test_objects_can_cross_as_handles_when_both_sides_say_how():
    kept = {}

    def handle(obj):
        kept[str(id(obj))] = obj
        return str(id(obj))

    thing = object()
    data = encode({"f": thing}, handle=handle)
    assert decode(data, resolve=kept.__getitem__)["f"] is thing
    with pytest.raises(CodecError):
        decode(data)  # no resolver: a handle is refused


@pytest.mark.parametrize("data", [
    {"__ndarray__": "not base64!"},
    {"__ndarray__": "AAAA"},
    {"__scalar__": encode(np.arange(3))["__ndarray__"]},
    {"__unknown__": 1},
    {"a": 1, "b": 2},
    {"__dict__": [[1, 2]]},
    {"__float__": "1.5"},
    {"__handle__": 5},
])
def test_malformed_messages_are_refused(data):
    with pytest.raises(CodecError):
        decode(data)


def test_a_pickle_is_never_loaded():
    payload = pickle.dumps(np.array([1.0, 2.0]))
    import base64

    with pytest.raises(CodecError):
        decode({"__ndarray__": base64.b64encode(payload).decode()})
    object_npy = encode(np.arange(3))["__ndarray__"]  # a real .npy whose header is then changed to dtype object
    raw = base64.b64decode(object_npy).replace(b"'<i8'", b"'|O' ", 1)
    with pytest.raises(CodecError):
        decode({"__ndarray__": base64.b64encode(raw).decode()})


def test_depth_and_size_are_bounded():
    deep: list = []
    node = deep
    for _ in range(MAX_DEPTH + 2):
        node.append([])
        node = node[0]
    with pytest.raises(CodecError):
        encode(deep)
    with pytest.raises(CodecError):
        decode(deep)
    left, right = socket.socketpair()
    with left, right:
        left.sendall(struct.pack(">Q", 10**12))
        with pytest.raises(CodecError):
            receive(right)


def test_frames_cross_a_socket_and_a_closed_peer_is_an_eof():
    left, right = socket.socketpair()
    with right:
        with left:
            message = encode({"dX": np.random.default_rng(0).standard_normal((3, 4)), "loss": 1.5})
            send(left, message)
            assert same(decode(receive(right)), decode(message))
            left.sendall(struct.pack(">Q", 5) + b"NaN!!")
            with pytest.raises(CodecError):
                receive(right)
        with pytest.raises(EOFError):
            receive(right)


def _over_a_socket(value):
    """`value` sent as a peer sends it, its arrays as frames after the message."""
    buffers: list[bytes] = []
    message = {"value": encode(value, buffers=buffers)}
    left, right = socket.socketpair()
    with left, right:
        send(left, message, buffers)
        received = receive(right)
    return decode(received["value"], buffers=received.get(BUFFERS, ()))


@given(values)
def test_every_value_comes_back_exactly_with_its_arrays_in_frames_of_their_own(value):
    assert same(_over_a_socket(value), value)


def test_arrays_in_frames_are_not_base64_text():
    array = np.arange(1000, dtype=np.float64)
    buffers: list[bytes] = []
    data = encode({"a": array, "b": [array]}, buffers=buffers)
    assert data == {"__dict__": [["a", {"__ndarray__": 0}], ["b", [{"__ndarray__": 1}]]]} and len(buffers) == 2
    assert len(dumps({"value": data}, buffers)) < 2 * array.nbytes + 1000  # base64 alone would be 4/3 of each


def _raw(message: dict, frames: list[bytes]) -> bytes:
    text = json.dumps(message).encode()
    return b"".join([struct.pack(">Q", len(text)), text, *(struct.pack(">Q", len(f)) + f for f in frames)])


@pytest.mark.parametrize("count", [0, -1, True, 1.0, "1", 10**9])
def test_a_count_of_frames_that_is_not_a_positive_int_is_refused(count):
    left, right = socket.socketpair()
    with left, right:
        left.sendall(_raw({"reply": None, BUFFERS: count}, []))
        with pytest.raises(CodecError):
            receive(right)


def test_arrays_that_name_no_frame_or_a_pickle_are_refused():
    frames = [dumps({})[8:]]  # a frame of JSON text, not an array
    for data in ({"__ndarray__": 1}, {"__ndarray__": -1}, {"__ndarray__": True}, {"__ndarray__": 0}):
        with pytest.raises(CodecError):
            decode(data, buffers=frames)
    with pytest.raises(CodecError):
        decode({"__ndarray__": 0}, buffers=[pickle.dumps(np.array([1.0]))])


def test_frames_count_against_the_message_limit():
    left, right = socket.socketpair()
    with left, right:
        left.sendall(_raw({"reply": None, BUFFERS: 2}, [b"x" * 600, b"y" * 600]))
        with pytest.raises(CodecError):
            receive(right, limit=1000)
