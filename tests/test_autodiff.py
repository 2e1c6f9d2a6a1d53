"""backprop.autodiff: Value's gradients against finite differences, its numerics, and the drawing.

Finite differences are taken on plain Python floats with the math module, so
they share no code with Value. A central difference with step h = 1e-6 has two
errors: truncation, about h^2 * f''' / 6 (around 1e-12 here), and rounding, about
ulp(M) / h ~ 2e-10 * M where M is the largest intermediate magnitude of the
computation. We therefore measure relative error against max(|ad|, |fd|, M / 10,
1e-3): the rounding term then stays ~100x under the 1e-7 bar, gradients under
1e-3 get an absolute check (1e-10, still far above the truncation error), and a
wrong local derivative is off by O(1) and fails.
"""
from __future__ import annotations

import math
import warnings
from decimal import Decimal, localcontext

import matplotlib

matplotlib.use("Agg")  # before pyplot: the tests never open a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from backprop.autodiff import Value, backward_steps, draw_graph, topological_order  # noqa: E402
from backprop.autodiff.draw import HIGHLIGHT_COLOR  # noqa: E402

H = 1e-6
TOL = 1e-7


# ---------------------------------------------------------------- helpers


def finite_diff(f, xs: list[float], i: int) -> float:
    """d f / d xs[i] by a central difference on floats."""
    up, down = list(xs), list(xs)
    up[i] += H
    down[i] -= H
    # Divide by the step actually taken: x + h is rounded, and 2h is not exactly the gap.
    return (f(*up) - f(*down)) / (up[i] - down[i])


def magnitude(root: Value) -> float:
    """Largest |data| among the computed (non-leaf) nodes: what FD rounding scales with."""
    return max((abs(n.data) for n in topological_order(root) if n._children), default=abs(root.data))


def assert_grad_close(ad: float, fd: float, scale: float) -> None:
    err = abs(ad - fd) / max(abs(ad), abs(fd), scale / 10, 1e-3)
    assert err < TOL, f"backward gave {ad!r}, finite differences {fd!r} (relative error {err:.2e})"


def check_against_fd(value_fn, float_fn, xs: list[float]) -> None:
    """Run value_fn on Values, backward, and compare each input's grad with FD of float_fn."""
    inputs = [Value(x) for x in xs]
    out = value_fn(*inputs)
    assert out.data == pytest.approx(float_fn(*xs), rel=1e-12, abs=1e-300)
    out.backward()
    scale = magnitude(out)
    for i, v in enumerate(inputs):
        assert_grad_close(v.grad, finite_diff(float_fn, xs, i), scale)


def float_sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def between(lo: float, hi: float):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def away_from_zero(lo: float, hi: float):
    """Magnitudes in [lo, hi], either sign."""
    return st.one_of(between(lo, hi), between(-hi, -lo))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------- construction and interface


def test_data_is_stored_as_a_python_float_and_grad_starts_at_zero():
    for raw in (3, 2.5, np.float32(1.5), np.int64(4), np.float64(-0.25), np.array(7.0)):
        v = Value(raw)
        assert type(v.data) is float and v.data == float(raw)
        assert v.grad == 0.0 and type(v.grad) is float
    with pytest.raises(TypeError):
        Value("1.0")
    with pytest.raises(TypeError):
        Value(1 + 2j)


def test_node_bookkeeping_repr_and_labels():
    x = Value(2.0, label="x")
    y = Value(-1.0)
    z = x * y
    z.label = "z"
    assert x.label == "x" and z.label == "z" and y.label == ""
    assert z._children == (x, y) and z.op == "*"
    assert x._children == () and x.op == ""
    assert (x**2).op == "**2" and (x**-1.5).op == "**-1.5"
    assert x.tanh().op == "tanh" and x.sigmoid().op == "sigmoid"
    assert repr(x) == "Value(data=2.0, grad=0.0)"
    # identity hashing: equal data, still two nodes
    assert len({Value(1.0), Value(1.0)}) == 2


def test_value_to_a_value_power_and_number_to_a_value_power_are_type_errors():
    with pytest.raises(TypeError, match="exponent"):
        Value(2.0) ** Value(3.0)
    with pytest.raises(TypeError):
        2.0 ** Value(3.0)


@pytest.mark.parametrize("x", [0.0, -1.0, -1e-300])
def test_log_of_a_non_positive_value_is_a_value_error(x):
    with pytest.raises(ValueError, match="domain"):
        Value(x).log()


def test_other_domain_and_range_errors_are_clear():
    with pytest.raises(ValueError):
        Value(-2.0) ** 0.5  # would be complex
    with pytest.raises(OverflowError):
        Value(1000.0).exp()
    with pytest.raises(ZeroDivisionError):
        Value(1.0) / 0


# ---------------------------------------------------------------- each op against finite differences

BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
}


@pytest.mark.parametrize("op", BINARY)
@given(a=between(-10, 10), b=away_from_zero(0.1, 10))
def test_binary_op_gradients_match_finite_differences(op, a, b):
    f = BINARY[op]  # the same lambda works on Values and on floats
    check_against_fd(f, f, [a, b])


UNARY = {
    # name: (Value method, float reference, input strategy)
    "exp": (Value.exp, math.exp, between(-20, 20)),
    "log": (Value.log, math.log, between(1e-2, 1e3)),
    "tanh": (Value.tanh, math.tanh, between(-10, 10)),
    "sigmoid": (Value.sigmoid, float_sigmoid, between(-30, 30)),
    "relu": (Value.relu, lambda x: max(x, 0.0), away_from_zero(1e-3, 10)),
}


@pytest.mark.parametrize("name", UNARY)
@given(data=st.data())
def test_unary_method_gradients_match_finite_differences(name, data):
    method, reference, inputs = UNARY[name]
    check_against_fd(method, reference, [data.draw(inputs)])


@pytest.mark.parametrize("n", [2, 3, 1, 0, -1, -2, 0.5, -1.5, 2.7])
@given(x=between(0.05, 5))
def test_power_gradients_match_finite_differences(n, x):
    check_against_fd(lambda v: v**n, lambda v: v**n, [x])


@given(x=away_from_zero(0.05, 5), n=st.sampled_from([2, 3, -1, -3]))
def test_integer_powers_of_negative_numbers(x, n):
    check_against_fd(lambda v: v**n, lambda v: v**n, [x])


def test_neg_gradient():
    x = Value(3.0)
    y = -x
    y.backward()
    assert y.data == -3.0 and x.grad == -1.0


# ---------------------------------------------------------------- numbers on either side


@given(x=away_from_zero(0.1, 10))
def test_plain_numbers_on_either_side(x):
    # (expression, expected value, expected d/dx), derivatives worked out by hand
    cases = [
        (lambda v: 2 * v, 2 * x, 2.0),
        (lambda v: v * 2, 2 * x, 2.0),
        (lambda v: 1 - v, 1 - x, -1.0),
        (lambda v: v - 2, x - 2, 1.0),
        (lambda v: v + 1, x + 1, 1.0),
        (lambda v: 1 + v, 1 + x, 1.0),
        (lambda v: v / 3, x / 3, 1 / 3),
        (lambda v: 3 / v, 3 / x, -3 / x**2),
        (lambda v: -v, -x, -1.0),
    ]
    if x > 0:
        cases.append((lambda v: v**-1.5, x**-1.5, -1.5 * x**-2.5))
    for expr, value, slope in cases:
        v = Value(x)
        out = expr(v)
        assert isinstance(out, Value)
        out.backward()
        assert out.data == pytest.approx(value, rel=1e-14, abs=0)
        assert v.grad == pytest.approx(slope, rel=1e-14, abs=0)


def test_numpy_scalars_on_the_left_and_object_arrays_of_values():
    v = Value(2.0)
    for out in (np.float64(3.0) * v, np.float64(1.0) - v, np.int64(4) / v):
        assert isinstance(out, Value)
    xs = np.array([Value(1.0), Value(-2.0), Value(0.5)])
    w = np.array([0.5, -1.0, 4.0])
    y = w @ xs  # NumPy sums the Values elementwise: a Value comes out
    assert isinstance(y, Value) and y.data == pytest.approx(4.5)
    y.backward()
    assert [x.grad for x in xs] == list(w)


def test_sum_of_values_works():
    xs = [Value(float(i)) for i in range(5)]
    total = sum(xs)
    total.backward()
    assert total.data == 10.0 and all(x.grad == 1.0 for x in xs)


# ---------------------------------------------------------------- fan-out: contributions add up


@given(x=between(-5, 5))
def test_square_by_self_multiplication(x):
    v = Value(x)
    (v * v).backward()
    assert v.grad == 2 * x


@given(a=between(-5, 5))
def test_self_addition(a):
    v = Value(a)
    (v + v).backward()
    assert v.grad == 2.0


@given(x=between(-2, 2))
def test_node_used_in_three_places(x):
    v = Value(x)
    u = v * 3
    out = u * u + u.tanh() + u  # u feeds three ops (and * twice)
    out.backward()
    t = math.tanh(3 * x)
    du = 2 * (3 * x) + (1 - t * t) + 1
    assert u.grad == pytest.approx(du, rel=1e-12, abs=0)
    assert v.grad == pytest.approx(3 * du, rel=1e-12, abs=0)


@given(a=between(-5, 5))
def test_diamond(a):
    v = Value(a)
    b = v * 2
    c = v + 1
    d = b * c  # = 2a(a + 1), d/da = 4a + 2
    d.backward()
    assert b.grad == pytest.approx(a + 1) and c.grad == pytest.approx(2 * a)
    assert v.grad == pytest.approx(4 * a + 2, rel=1e-12, abs=1e-12)


# ---------------------------------------------------------------- random composite expressions


class Reject(Exception):
    """The drawn expression is outside where finite differences are trustworthy."""


def _as_value(u):
    return u if isinstance(u, Value) else Value(u)


def _guarded_exp(u: float) -> float:
    if u > 30:
        raise Reject
    return math.exp(u)


def _guarded_relu(u: float) -> float:
    if abs(u) < 1e-3:  # an FD step across the kink would average two slopes
        raise Reject
    return max(u, 0.0)


# Each op twice: on Values and on floats. log, / and fractional powers get
# arguments of the form u*u + 0.5, so every drawn expression is in the domain.
VALUE_OPS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / (b * b + 0.5),
    "neg": lambda u: -_as_value(u),
    "exp": lambda u: _as_value(u).exp(),
    "log": lambda u: _as_value(u * u + 0.5).log(),
    "tanh": lambda u: _as_value(u).tanh(),
    "sigmoid": lambda u: _as_value(u).sigmoid(),
    "relu": lambda u: _as_value(u).relu(),
    "**3": lambda u: _as_value(u) ** 3,
    "**-0.5": lambda u: _as_value(u * u + 0.5) ** -0.5,
}
FLOAT_OPS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / (b * b + 0.5),
    "neg": lambda u: -u,
    "exp": _guarded_exp,
    "log": lambda u: math.log(u * u + 0.5),
    "tanh": math.tanh,
    "sigmoid": float_sigmoid,
    "relu": _guarded_relu,
    "**3": lambda u: u**3,
    "**-0.5": lambda u: (u * u + 0.5) ** -0.5,
}
BINARY_NAMES = ["+", "-", "*", "/"]
UNARY_NAMES = [name for name in VALUE_OPS if name not in BINARY_NAMES]


def evaluate(tree, xs, ops):
    """Tree: an int (input index), a float (constant), or (op, *subtrees)."""
    if isinstance(tree, int):
        return xs[tree]
    if isinstance(tree, float):
        return tree
    op, *args = tree
    return ops[op](*(evaluate(a, xs, ops) for a in args))


@st.composite
def expressions(draw):
    n_inputs = draw(st.integers(2, 3))
    leaves = st.one_of(st.integers(0, n_inputs - 1), between(-2, 2))
    tree = draw(st.recursive(
        leaves,
        lambda sub: st.one_of(
            st.tuples(st.sampled_from(BINARY_NAMES), sub, sub),
            st.tuples(st.sampled_from(UNARY_NAMES), sub),
        ),
        max_leaves=8,
    ))
    xs = draw(st.lists(between(-2, 2), min_size=n_inputs, max_size=n_inputs))
    return tree, xs


@settings(max_examples=150)
@given(expressions())
def test_random_expressions_match_finite_differences(case):
    tree, xs = case

    def f(*args):
        return evaluate(tree, list(args), FLOAT_OPS)

    try:
        expected = f(*xs)
        fds = [finite_diff(f, xs, i) for i in range(len(xs))]
    except (Reject, OverflowError):
        assume(False)
    inputs = [Value(x) for x in xs]
    out = evaluate(tree, inputs, VALUE_OPS)
    assume(isinstance(out, Value))  # all-constant trees have nothing to differentiate
    scale = magnitude(out)
    assume(scale < 1e4)  # beyond this FD rounding alone nears the tolerance

    assert out.data == pytest.approx(expected, rel=1e-12, abs=1e-12)
    out.backward()
    for v, fd in zip(inputs, fds):
        assert_grad_close(v.grad, fd, scale)


# ---------------------------------------------------------------- numerical stability


@pytest.mark.parametrize("x", [1000.0, -1000.0, 745.0, -745.0])
def test_sigmoid_of_huge_inputs_is_finite_and_quiet(x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v = Value(x)
        s = v.sigmoid()
        s.backward()
    assert 0.0 <= s.data <= 1.0 and math.isfinite(v.grad) and v.grad >= 0.0
    assert s.data == (1.0 if x > 0 else pytest.approx(0.0, abs=1e-300))


def _exact_sigmoid_and_slope(x: float) -> tuple[float, float]:
    """sigmoid(x) and sigmoid'(x) in 40-digit decimal arithmetic, rounded to float."""
    with localcontext() as ctx:
        ctx.prec = 40
        e = (-Decimal(x)).exp()
        return float(1 / (1 + e)), float(e / (1 + e) ** 2)


@pytest.mark.parametrize("x", [30.0, -30.0, 20.0, -20.0, 5.0, -5.0])
def test_sigmoid_and_its_derivative_stay_accurate_at_saturation(x):
    exact_s, exact_ds = _exact_sigmoid_and_slope(x)
    v = Value(x)
    s = v.sigmoid()
    s.backward()
    assert abs(s.data - exact_s) <= 1e-6 * exact_s
    assert abs(v.grad - exact_ds) <= 1e-6 * exact_ds  # s*(1-s) is ~1e-3 off at x = 30


@pytest.mark.parametrize("x", [20.0, -20.0])
def test_tanh_derivative_stays_accurate_at_saturation(x):
    v = Value(x)
    v.tanh().backward()
    exact = 4 * math.exp(-40) / (1 + math.exp(-40)) ** 2
    assert abs(v.grad - exact) <= 1e-6 * exact  # 1 - tanh^2 would give 0 here


def test_deep_chain_needs_no_recursion():
    x = Value(1.0)
    y = x
    steps = 10_000
    for _ in range(steps):
        y = y * 1.0001 + 0.0  # two op nodes (and two constants) per step
    order = topological_order(y)
    assert len(order) == 1 + 4 * steps
    y.backward()
    assert x.grad == pytest.approx(1.0001**steps, rel=1e-9, abs=0)


# ---------------------------------------------------------------- backward() semantics


def _example_graph() -> tuple[Value, list[Value]]:
    a, b, c = Value(0.5, label="a"), Value(-1.25, label="b"), Value(2.0, label="c")
    d = a * b + c
    e = d.tanh() * a
    f = (e + b.sigmoid()) / (c**2 + 1) - (a - c).relu() + (d * d).log()
    f.label = "f"
    return f, [a, b, c]


def test_backward_twice_gives_the_same_grads():
    f, _ = _example_graph()
    f.backward()
    first = {n: n.grad for n in topological_order(f)}
    f.backward()
    assert {n: n.grad for n in topological_order(f)} == first
    assert f.grad == 1.0


def test_backward_overwrites_stale_grads():
    f, inputs = _example_graph()
    f.backward()
    expected = [v.grad for v in inputs]
    for n in topological_order(f):
        n.grad = 123.0
    f.backward()
    assert [v.grad for v in inputs] == expected


def test_topological_order_lists_each_node_once_after_its_children():
    f, inputs = _example_graph()
    order = topological_order(f)
    assert len(order) == len(set(order)) and order[-1] is f
    where = {n: i for i, n in enumerate(order)}
    assert all(where[c] < where[n] for n in order for c in n._children)
    assert set(inputs) <= set(order)


def test_backward_steps_ends_where_backward_does():
    f, _ = _example_graph()
    f.backward()
    expected = {n: n.grad for n in topological_order(f)}
    for n in expected:
        n.grad = -7.0  # stale values that the steps must reset
    steps = list(backward_steps(f))
    assert steps[0] is f
    assert len(steps) == len(expected) and set(steps) == set(expected)
    assert {n: n.grad for n in expected} == expected


def test_backward_steps_go_one_node_at_a_time():
    a = Value(3.0, label="a")
    b = a * 2
    c = b.tanh()
    stepper = backward_steps(c)
    assert next(stepper) is c
    assert b.grad == pytest.approx(1 - math.tanh(6.0) ** 2) and a.grad == 0.0
    assert next(stepper) is b
    assert a.grad == pytest.approx(2 * b.grad)
    assert {n for n in stepper} == {a, b._children[1]}


# ---------------------------------------------------------------- drawing


def _fifteen_node_graph() -> Value:
    x, w, b = Value(0.8, label="x"), Value(-1.3, label="w"), Value(0.4, label="b")
    z = x * w + b
    z.label = "z"
    h = z.tanh()
    out = (h * h + z.sigmoid()) / 2 - b.relu()
    out.label = "L"
    out.backward()
    return out


def _facecolors(ax: Axes) -> list[tuple[float, ...]]:
    return [tuple(p.get_facecolor()) for p in ax.patches]


def test_draw_graph_shows_every_node_and_saves(tmp_path):
    root = _fifteen_node_graph()
    n_nodes = len(topological_order(root))
    assert 13 <= n_nodes <= 20
    ax = draw_graph(root)
    assert isinstance(ax, Axes)
    assert len(ax.texts) >= n_nodes
    boxes = [t.get_text() for t in ax.texts if "data=" in t.get_text()]
    assert len(boxes) == n_nodes and all("grad=" in t for t in boxes)
    assert f"L\ndata={root.data:.4g}\ngrad=1" in boxes
    path = tmp_path / "graph.png"
    ax.figure.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_draw_graph_highlights_one_or_several_nodes():
    root = _fifteen_node_graph()
    orange = to_rgba(HIGHLIGHT_COLOR)
    assert _facecolors(draw_graph(root)).count(orange) == 0
    assert _facecolors(draw_graph(root, highlight=root._children[0])).count(orange) == 1
    two = set(topological_order(root)[:2])
    assert _facecolors(draw_graph(root, highlight=two)).count(orange) == 2


def test_draw_graph_into_a_given_axes_is_deterministic():
    root = _fifteen_node_graph()
    layouts = []
    for _ in range(2):
        fig, ax = plt.subplots(figsize=(8, 4))
        assert draw_graph(root, ax=ax) is ax
        layouts.append([(t.get_text(), t.get_position()) for t in ax.texts])
        fig.canvas.draw()  # the Agg canvas renders it
    assert layouts[0] == layouts[1]


def test_draw_graph_of_a_single_leaf():
    ax = draw_graph(Value(1.0, label="x"))
    assert [t.get_text() for t in ax.texts] == ["x\ndata=1\ngrad=0"]
