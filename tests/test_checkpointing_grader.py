"""The checkpointing grader measures what it claims: memory by tracemalloc (in this process), forwards by count, fast
enough. Memory read from outside a student's process: tests/test_resident.py."""
import time

import numpy as np
import pytest

from autograder.catalogue import run
from autograder.catalogue.checkpointing import FROM_INPUT, ITERATIVE, PLAIN, VARIANTS
from autograder.specs import checkpointing
from backprop.checkpoint import checkpoint_plan


def by_label(label):
    return next(v for v in VARIANTS if v.label == label)


def test_deep_cases_separate_plain_backprop_from_checkpointing():
    """The bound sits between what checkpointing holds and what plain backprop holds, with room on both sides."""
    for case in checkpointing.make_cases(0):
        if case.measure:
            kept, _ = checkpoint_plan(case.L, case.k)
            bound_layers = case.memory_bound() / case.unit
            assert kept + 6 < bound_layers < 0.6 * case.L, (case.label, kept, bound_layers)
    # Read from outside the student's process, the bound allows for what the process adds itself, and still sits
    # below what plain backprop's activations alone take.
    for case in checkpointing.make_cases(0, resident=True):
        if case.measure:
            bound_layers = case.memory_bound() / case.unit
            resident_layers = case.memory_bound(resident=True) / case.unit
            assert bound_layers + 8 < resident_layers < 0.75 * case.L, (case.label, bound_layers, resident_layers)


@pytest.mark.parametrize("label, part, phrase", [
    ("keeps every activation in a global list", "memory", "as much as plain backprop"),
    ("keeps a copy of every activation", "memory", "as much as plain backprop"),
    ("recomputes from the input for every layer", "recomputation", "from the input for every layer"),
])
def test_hiding_activations_or_recomputing_everything_is_caught(label, part, phrase):
    report = run(by_label(label), seed=3)
    item = next(i for i in report.items if i.name == part)
    assert not item.correct and phrase in item.message, report.text()


def test_a_correct_solution_passes_and_plain_backprop_does_not_on_other_seeds():
    for seed in (1, 2, 99):
        assert run(by_label("iterative, every segment recomputed"), seed).score == 1.0
        report = run(by_label("plain backprop, k ignored"), seed)
        assert {i.name for i in report.items if not i.correct} == {"memory", "recomputation"}, report.text()


def test_grading_stays_far_inside_the_cell_timeout_even_for_quadratic_recomputation():
    for code in (ITERATIVE, PLAIN, FROM_INPUT):
        start = time.perf_counter()
        run(checkpointing_variant(code))
        assert time.perf_counter() - start < 5.0


def checkpointing_variant(code):
    from autograder.catalogue import Variant
    return Variant("checkpointed_backward", "timing", code, {})


def test_instrumented_layers_count_and_check_what_they_are_given():
    rng = np.random.default_rng(0)
    case = checkpointing.make_cases(0)[1]
    log = checkpointing._Log(case.L)
    probes = (checkpointing._Probe(rng, case.inputs), checkpointing._Probe(rng, case.douts))
    layer = checkpointing.InstrumentedLayer(case.layers[-1], case.L - 1, log, probes[0], probes[1], case.dout)
    _, cache = layer.forward(case.inputs[-1])
    layer.forward(case.inputs[-1] + 1.0)
    assert log.forwards[case.L - 1] == 2 and log.bad_input == {case.L - 1: "values"}
    layer.backward(case.dout, cache)
    assert log.backwards[case.L - 1] == 1 and not log.bad_dout
    with pytest.raises(ValueError, match="upstream gradient of shape"):
        layer.backward(np.zeros((case.X.shape[0], 99)), cache)
