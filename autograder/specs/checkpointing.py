"""Chapter 6's graded function: checkpointed_backward(layers, X, dout, k) -> (dX, grads).

The student's function gets instrumented layers: each wraps one of the reference package's layers
(`backprop.modules.Linear`, `Activation`), runs it unchanged, and notes every forward and backward
call, and whether each call got the right input or upstream gradient (compared through a random
projection, which allocates nothing). Four parts:

- dX and the parameter gradients, against plain backprop (`Sequential.backward`) to 1e-10;
- memory: the most the call holds at once, on deep stacks of equal widths, against the bound for
  ceil(L/k) checkpoints plus one segment's k caches (copies, globals and lists of arrays all
  count). A student's function in a process of its own (hidden tests) is measured from outside
  that process: the peak of its memory cgroup's charge or of its resident size (read by the
  grader at every layer call), above what it held before the student's code ran, so that a
  buffer made beforehand and reused counts (autograder/isolation/resident.py); code in that
  process cannot misreport it. One in this process (visible tests, the catalogue) is
  measured by tracemalloc: the peak of everything allocated during the call;
- recomputation: the number of layer forwards, at most 2L (one extra forward pass), and, on the
  deep stacks, more than L (a checkpointed backward must recompute the caches it dropped).

Memory and recomputation are measured only when every layer's forward and backward ran, so a stub
that does nothing cannot earn them.
"""
from __future__ import annotations

import math
import tracemalloc
from collections import Counter
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autograder.calling import call_student
from autograder.compare import as_float_array, close
from autograder.isolation.resident import FILES_REFUSED, may_be_refused
from autograder.diagnosis import NAMED, PATTERN, VAGUE, diagnose
from autograder.layer_grading import references
from autograder.report import Report
from autograder.verdicts import Failures, fatal_problem, finish
from backprop.checkpoint import checkpoint_plan, checkpointed_backprop
from backprop.modules import Activation, Layer, Linear, Sequential

NAME = "checkpointed_backward"
PARTS = {"dX": 1.0, "parameter gradients": 1.0, "memory": 1.0, "recomputation": 1.0}
# Plain backprop and checkpointing run the same float64 operations: they agree to the last bits.
TOLERANCE = 1e-10
# Memory slack, in arrays of one layer's activations (a), on top of the plan's ceil(L/k) + k:
# the output of the forward pass, dout and the dX handed down (3 a), the backward's temporaries
# (tanh_prime's 1 - tanh(z)**2 holds 2 a while the product is made), and a checkpoint copied once.
SLACK_ARRAYS = 6
# A layout other than the reference's (checkpoints at segment ends too, say) may keep a few more.
SLACK_FACTOR = 1.25
# Read from outside the process, memory also holds what the process adds itself: its interpreter's heap as it
# decodes messages, each array's last page. Correct solutions measured 1.0 to 1.6 MB above their arrays.
RESIDENT_ALLOWANCE = 2 * 2**20
RESIDENT_OVERHEAD = 2**20  # the typical part of that, left out when a message counts layers held
REFERENCE = references(checkpointed_backprop)


@dataclass
class Case:
    """One stack of layers, its input, its upstream gradient, the spacing k, and what plain backprop gives."""

    layers: list[Layer]
    X: np.ndarray
    dout: np.ndarray
    k: int
    label: str
    measure: bool = False
    inputs: list[np.ndarray] = field(default_factory=list)   # layer i's true input
    douts: list[np.ndarray] = field(default_factory=list)    # the true gradient of layer i's output
    dX: np.ndarray | None = None
    grads: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        net = Sequential(self.layers)
        x, caches = self.X, []
        for layer in self.layers:
            self.inputs.append(x)
            x, cache = layer.forward(x)
            caches.append(cache)
        g = self.dout
        self.douts = [None] * len(self.layers)  # type: ignore[list-item]
        for i in range(len(self.layers) - 1, -1, -1):
            self.douts[i] = g
            g, _ = self.layers[i].backward(g, caches[i])
        self.dX, self.grads = net.backward(self.dout, caches)

    @property
    def L(self) -> int:
        return len(self.layers)

    @property
    def unit(self) -> int:
        """Bytes of one layer's activations (the stacks that are measured have one width)."""
        return self.X.nbytes

    def memory_bound(self, resident: bool = False) -> int:
        """The most a correct solution may hold, in bytes: traced by tracemalloc, or `resident` (read from outside)."""
        kept, _ = checkpoint_plan(self.L, self.k)
        grads = sum(g.nbytes for g in self.grads.values())
        return int((SLACK_FACTOR * kept + SLACK_ARRAYS) * self.unit) + grads + 64 * 1024 + (
            RESIDENT_ALLOWANCE if resident else 0)


class _Log:
    """What the instrumented layers saw during one call; shared, never copied (call_student deep-copies args)."""

    def __init__(self, L: int) -> None:
        self.forwards: Counter[int] = Counter()
        self.backwards: Counter[int] = Counter()
        self.bad_input: dict[int, str] = {}
        self.bad_dout: dict[int, str] = {}
        self.no_input_grad: set[int] = set()
        self.peak = 0
        self.resident = False  # peak read from outside the student's process (else tracemalloc's, in this one)
        self.changed: list[str] = []
        self.L = L

    def __deepcopy__(self, memo: dict) -> "_Log":
        return self


class _Probe:
    """Random projections of the true arrays: comparing with one allocates nothing that tracemalloc could charge."""

    def __init__(self, rng: np.random.Generator, truth: list[np.ndarray]) -> None:
        self.shapes = [t.shape for t in truth]
        self.vectors = [rng.standard_normal(t.shape) for t in truth]
        self.values = [float(np.vdot(t, v)) for t, v in zip(truth, self.vectors)]
        self.scales = [float(np.linalg.norm(t) * np.linalg.norm(v)) + 1e-300 for t, v in zip(truth, self.vectors)]

    def matches(self, i: int, array: Any, tolerance: float = 1e-9) -> bool:
        if not isinstance(array, np.ndarray) or array.shape != self.shapes[i]:
            return False
        return abs(float(np.vdot(array, self.vectors[i])) - self.values[i]) <= tolerance * self.scales[i]


class InstrumentedLayer(Layer):
    """Runs one reference layer unchanged and notes every call in the shared log. Lent to a student's process,
    only the attributes a layer's user reads are readable there."""

    remote_attributes = ("forward", "backward", "params")

    def __init__(self, inner: Layer, index: int, log: _Log, inputs: _Probe, douts: _Probe, stack_dout: np.ndarray) -> None:
        super().__init__()
        self.inner, self.index, self.log = inner, index, log
        self.params = inner.params
        self._inputs, self._douts, self._stack_dout = inputs, douts, stack_dout

    def forward(self, X: np.ndarray) -> tuple[np.ndarray, Any]:
        i = self.index
        self.log.forwards[i] += 1
        if i not in self.log.bad_input and not self._inputs.matches(i, X):
            self.log.bad_input[i] = ("shape" if np.shape(X) != self._inputs.shapes[i]
                                     else "rounded" if self._inputs.matches(i, X, 1e-5) else "values")
        return self.inner.forward(X)

    def backward(self, dout: np.ndarray, cache: Any, input_grad: bool = True) -> tuple[np.ndarray | None, dict]:
        i = self.index
        self.log.backwards[i] += 1
        if not input_grad:
            self.log.no_input_grad.add(i)
        if i not in self.log.bad_dout and not self._douts.matches(i, dout):
            same_as_stack = (np.shape(dout) == self._stack_dout.shape and isinstance(dout, np.ndarray)
                             and np.array_equal(dout, self._stack_dout))
            self.log.bad_dout[i] = "stack" if same_as_stack else "wrong"
        if np.shape(dout) != self._douts.shapes[i]:
            raise ValueError(f"layer {i}'s backward was given an upstream gradient of shape {np.shape(dout)}, "
                             f"but its output has shape {self._douts.shapes[i]}")
        return self.inner.backward(dout, cache, input_grad)

    def __repr__(self) -> str:
        return repr(self.inner)


# ---------------------------------------------------------------------------------------------
# Cases


def _stack(rng: np.random.Generator, widths: list[int], activations: list[str]) -> list[Layer]:
    """Linear layers of the given widths with the activations between them (none after the last)."""
    stack: list[Layer] = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        if i > 0:
            stack.append(Activation(activations[(i - 1) % len(activations)]))
        W = rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
        stack.append(Linear(W, rng.uniform(-0.5, 0.5, fan_out)))
    return stack


def _label(L: int, k: int, N: int, extra: str = "") -> str:
    note = " (k = L)" if k == L else " (k = 1)" if k == 1 else "" if L % k == 0 else " (k does not divide L)"
    return f"L = {L} layer{'s' if L > 1 else ''}, k = {k}{note}, N = {N}{extra}"


def make_cases(seed: int, resident: bool = False) -> list[Case]:
    """Gradient cases (several depths, k = 1, k = L, k not dividing L, N = 1, non-square), then two deep stacks, with
    larger batches when memory is read from outside the student's process (`resident`)."""
    rng = np.random.default_rng(seed)
    cases = []
    acts = ["tanh", "relu", "sigmoid"]
    # (number of Linear layers, k as a function of L, N)
    shapes = [(1, lambda L: 1, 1), (3, lambda L: 2, 3), (4, lambda L: 1, 2), (4, lambda L: L, 3),
              (6, lambda L: 4, 1), (5, lambda L: 3, 4), (8, lambda L: 5, 2)]
    for n_linear, k_of, N in shapes:
        widths = [int(w) for w in rng.integers(2, 7, n_linear + 1)]
        rng.shuffle(acts)
        layers = _stack(rng, widths, list(acts))
        L = len(layers)
        X, dout = rng.standard_normal((N, widths[0])), rng.standard_normal((N, widths[-1]))
        cases.append(Case(layers, X, dout, k_of(L), _label(L, k_of(L), N)))
    # Deep stacks of one width, where memory and recomputation are measured. Traced, each layer's activations are
    # 32 KiB; read from outside, 128 KiB, so what the process adds itself (RESIDENT_ALLOWANCE) is small beside
    # plain backprop's. (Larger in this process would only slow a quadratic recomputation down.)
    N = 1024 if resident else 256
    for n_linear, k, width in ((32, 7, 16), (30, 8, 16)):
        layers = _stack(rng, [width] * (n_linear + 1), ["tanh", "relu"])
        L = len(layers)
        X, dout = rng.standard_normal((N, width)), rng.standard_normal((N, width)) / N
        cases.append(Case(layers, X, dout, k, _label(L, k, N, f", width {width}"), measure=True))
    return cases


# ---------------------------------------------------------------------------------------------
# Running the student's function on one case


def _run(student: Any, case: Case, log: _Log, probes: tuple[_Probe, _Probe]):
    """The function call_student calls: wraps the (copied) layers, measures the student's call (from outside its
    process when it lives in one that the grader can read)."""

    def measured(layers: list[Layer], X: np.ndarray, dout: np.ndarray, k: int) -> Any:
        given = [InstrumentedLayer(layer, i, log, probes[0], probes[1], case.dout) for i, layer in enumerate(layers)]
        handed = list(given)
        snapshot = [{name: p.copy() for name, p in layer.params.items()} for layer in layers]
        if case.measure and hasattr(student, "call_measuring_memory"):  # it lives in the student's process
            value, log.peak, log.resident = student.call_measuring_memory(handed, X, dout, k)
        else:
            value = _measured_call(student, (handed, X, dout, k), log) if case.measure else student(handed, X, dout, k)
        if len(handed) != len(given) or any(a is not b for a, b in zip(handed, given)):
            log.changed.append("layers (the list itself: items removed or reordered)")
        for i, (layer, before) in enumerate(zip(layers, snapshot)):
            for name, p in before.items():
                if not np.array_equal(layer.params[name], p):
                    log.changed.append(f"layers[{i}].params[{name!r}]")
        return value

    return measured


def _measured_call(student: Any, args: tuple, log: _Log) -> Any:
    """student(*args), with log.peak set to the most memory allocated at once during the call."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        value = student(*args)
        log.peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return value


def _unpack(value: Any, case: Case) -> tuple[Any, Any] | str:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        count = f"{len(value)} values" if isinstance(value, (tuple, list)) else f"a {type(value).__name__}"
        return f"should return 2 values (dX, grads); it returned {count}"
    dX, grads = value
    if not isinstance(grads, Mapping):
        return (f"grads should be a dict keyed like Sequential(layers).params ({', '.join(sorted(case.grads)[:3])}, "
                f"...); it is a {type(grads).__name__}")
    return dX, grads


def _indices(items: list[int]) -> str:
    return ("layer " if len(items) == 1 else "layers ") + ", ".join(map(str, items[:6])) + (" ..." if len(items) > 6 else "")


def _flow_problem(case: Case, log: _Log, finished: bool = True) -> str | None:
    """What the instrumented layers saw go wrong, in one sentence, or None.

    `finished`: the call returned; after an exception, layers that never ran say nothing."""
    L, k = case.L, case.k
    # After an exception, a layer counts as skipped only if a layer below it ran backward (the walk is top down).
    never = [i for i in range(L) if log.backwards[i] == 0 and (finished or any(log.backwards[j] for j in range(i)))]
    if never:
        tail = list(range(L - L % k, L))
        if L % k and never == tail:
            return (f"{_indices(never)} (the last L mod k = {L % k}) never ran backward: when k does not divide L the "
                    "last segment is shorter, and range(0, L, k) still covers it")
        if k < L and never == list(range(L - k, L)):
            return (f"the last segment ({_indices(never)}) never ran backward: the backward pass must start with the "
                    "segment at the top")
        return f"{_indices(never)} never ran backward: a layer is skipped at a segment boundary (off by one?)"
    twice = [i for i in range(L) if log.backwards[i] > 1]
    if twice:
        return (f"{_indices(twice)} ran backward {max(log.backwards[i] for i in twice)} times: a segment's backward is "
                "run again, so its gradients are accumulated twice (an overlapping segment boundary, or the last "
                "segment done both from its kept caches and recomputed)")
    if log.bad_input:
        i = min(log.bad_input)
        if log.bad_input[i] == "rounded":
            return (f"layer {i}'s forward was run on an input that differs from the true one by rounding: a checkpoint "
                    "kept in lower precision (float32?); checkpoints must be the float64 arrays themselves")
        return (f"layer {i}'s forward was run on the wrong input: the recomputation starts from the wrong checkpoint "
                f"(a segment starting at layer s must start from layer s's input, the output of layer s - 1)")
    if log.bad_dout:
        i = max(log.bad_dout)
        if log.bad_dout[i] == "stack":
            return (f"layer {i}'s backward was handed the dout given to the whole stack, not the gradient that flows "
                    "out of the segment above it")
        return (f"layer {i}'s backward was handed a wrong upstream gradient: it must get what layer {i + 1}'s backward "
                "returned" if i + 1 < L else f"layer {i}'s backward was handed a wrong upstream gradient: the top "
                "layer gets dout")
    return None


def _integer_multiple(got: np.ndarray | None, expected: np.ndarray) -> int:
    """m >= 2 if got is m times expected, else 0."""
    if got is None or got.shape != expected.shape or not np.any(expected):
        return 0
    m = round(float(np.vdot(got, expected) / np.vdot(expected, expected)))
    return m if m >= 2 and close(got, m * expected, TOLERANCE) else 0


def _grads_problem(case: Case, grads: Mapping[str, Any]) -> str | None:
    missing = sorted(set(case.grads) - set(grads), key=lambda key: int(key.split(".")[0]))
    if missing:
        return f"has no gradient for {', '.join(repr(key) for key in missing[:4])}" + (" ..." if len(missing) > 4 else "")
    extra = sorted(set(grads) - set(case.grads))
    if extra:
        return (f"has keys that are not parameters: {', '.join(repr(key) for key in extra[:3])} (keys are "
                "'index.name' as in Sequential(layers).params, index counting every layer)")
    wrong, doubled, multiples = [], [], []
    for key in sorted(case.grads, key=lambda key: (int(key.split(".")[0]), key)):
        got = as_float_array(grads[key])
        if got is None or not close(got, case.grads[key], TOLERANCE):
            wrong.append(key)
            if got is not None and close(got, 2 * case.grads[key], TOLERANCE):
                doubled.append(key)
            multiples.append(_integer_multiple(got, case.grads[key]))
    if not wrong:
        return None
    if doubled == wrong:
        return f"{', '.join(doubled[:4])} are twice the right values: the gradients are accumulated twice"
    if all(multiple for multiple in multiples):
        return (f"{', '.join(wrong[:4])} are {min(multiples)} to {max(multiples)} times the right values: gradients "
                "are accumulated more than once (a dict of gradients not reset between segments?)")
    first = wrong[0]
    return f"d[{first!r}] " + diagnose(grads[first], case.grads[first], case.X.shape[0]).message + (
        f" ({len(wrong)} of {len(case.grads)} gradients wrong)" if len(wrong) > 1 else "")


def _memory_problem(case: Case, log: _Log) -> str | None:
    bound, unit = case.memory_bound(log.resident), case.unit
    if log.peak <= bound:
        return None
    overhead = RESIDENT_OVERHEAD if log.resident else 0  # counted in layers, what the process adds is left out
    held, bound_layers = (log.peak - overhead) / unit, (bound - overhead) / unit
    kept, _ = checkpoint_plan(case.L, case.k)
    if held >= 0.8 * case.L:
        return (f"held about {held:.0f} layers' activations at its peak, as much as plain backprop, which keeps every "
                f"layer's (k = {case.k} needs about ceil(L/k) + k = {kept}; bound {bound_layers:.0f}): keep only each "
                "segment's input in the forward pass, and drop a segment's caches once its backward is done")
    return (f"held about {held:.0f} layers' activations at its peak, more than ceil(L/k) checkpoints + k caches = {kept} "
            f"allow (bound {bound_layers:.0f}): something besides the checkpoints and one segment's caches stays alive")


def _recompute_problem(case: Case, log: _Log) -> str | None:
    L, total = case.L, sum(log.forwards.values())
    recomputed = total - L
    if recomputed > L:
        per_layer = L + L * (case.k + 1) / 2  # each layer recomputed from its segment's checkpoint
        if total >= 0.75 * L * (L + 1) / 2 and total > per_layer + 1:
            return (f"ran {total} layer forwards for L = {L} layers, about L^2/2: it recomputes from the input for every "
                    "layer; recompute a whole segment once, from its checkpoint")
        return (f"ran {total} layer forwards for L = {L} layers ({recomputed} recomputed, more than one extra forward "
                "pass): recompute each segment once, from its checkpoint, and keep its caches for its whole backward")
    if case.measure and recomputed <= 0:
        return (f"recomputes nothing with k = {case.k} < L = {L}: a checkpointed backward drops the caches between "
                "checkpoints and recomputes them segment by segment")
    return None


def grade_checkpointed_backward(namespace: MutableMapping[str, Any], points: float, seed: int) -> Report:
    """Grade namespace['checkpointed_backward']: gradients, peak memory, recomputed forwards."""
    report, failures, modified = Report(NAME, points), Failures(), []
    student = namespace[NAME]
    # In the student's own process, memory is read from outside it, above what it held before its code ran.
    outside = student.memory_read_from_outside() if hasattr(student, "memory_read_from_outside") else False
    cases = make_cases(seed, resident=outside)
    rng = np.random.default_rng(seed + 1)
    for case in cases:
        log = _Log(case.L)
        probes = (_Probe(rng, case.inputs), _Probe(rng, case.douts))
        args = [("layers", case.layers), ("X", case.X), ("dout", case.dout), ("k", case.k)]
        call = call_student(_run(student, case, log, probes), args, REFERENCE)
        report.notes += [n for n in call.notes if n not in report.notes]
        modified += call.modified + log.changed
        if (fatal := fatal_problem(call)) is not None:
            for part in PARTS:
                failures.add(part, fatal, NAMED + 1, case.label)
            break
        if call.error:
            if outside and may_be_refused(call.error) and FILES_REFUSED not in report.notes:
                report.notes.append(FILES_REFUSED)
            flow = _flow_problem(case, log, finished=False)
            message, rank = (call.error, VAGUE) if flow is None else (flow, NAMED)
            for part in PARTS:
                if part != "memory" or case.measure:
                    failures.add(part, message, rank, case.label)
            continue
        flow = _flow_problem(case, log)
        unpacked = _unpack(call.value, case)
        if isinstance(unpacked, str):
            for part in PARTS:
                failures.add(part, unpacked, PATTERN, case.label)
            continue
        dX, grads = unpacked
        got = as_float_array(dX)
        if got is None or not close(got, case.dX, TOLERANCE):
            if dX is None and 0 in log.no_input_grad:
                message, rank = ("is None: layer 0's backward was called with input_grad=False, but the exercise "
                                 "returns dX too"), NAMED
            elif flow is not None:
                message, rank = flow, NAMED
            else:
                found = diagnose(dX, case.dX, case.X.shape[0])
                message, rank = found.message, found.rank
            failures.add("dX", message, rank, case.label)
        grads_message = _grads_problem(case, grads)
        if grads_message is not None:
            failures.add("parameter gradients", flow or grads_message, NAMED if flow or "twice" in grads_message
                         else PATTERN, case.label)
        if any(log.forwards[i] == 0 or log.backwards[i] == 0 for i in range(case.L)):
            message = f"not measured: {flow}" if flow else "not measured: some layer's forward or backward never ran"
            failures.add("recomputation", message, PATTERN, case.label)
            if case.measure:
                failures.add("memory", message, PATTERN, case.label)
            continue
        if (problem := _recompute_problem(case, log)) is not None:
            failures.add("recomputation", problem, NAMED, case.label)
        if case.measure and (problem := _memory_problem(case, log)) is not None:
            failures.add("memory", problem, NAMED, case.label)
    measured = sum(case.measure for case in cases)
    counts = {"dX": len(cases), "parameter gradients": len(cases), "memory": measured, "recomputation": len(cases)}
    return finish(report, list(PARTS), failures, counts, modified, PARTS)


def grader(namespace: MutableMapping[str, Any], points: float, seed: int) -> Report:
    return grade_checkpointed_backward(namespace, points, seed)


GRADERS = {NAME: grader}
