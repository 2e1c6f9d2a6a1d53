"""Chapter 4's grader: its cases, its oracle, and verdicts on answers written here (not from the catalogue)."""
import numpy as np
import pytest

from autograder import grading
from autograder.specs import softmax as spec
from backprop import losses


@pytest.mark.parametrize("make_cases", [spec.softmax_cases, spec.log_softmax_cases, spec.softmax_cross_entropy_cases])
def test_batch_cases_include_a_single_example_a_non_square_and_a_square_batch(make_cases):
    shapes = [case.args["Z"].shape for case in make_cases(7)]
    assert any(N == 1 for N, _ in shapes) and any(N != C for N, C in shapes) and any(N == C for N, C in shapes)
    assert max(np.abs(case.args["Z"]).max() for case in make_cases(7)) > 1000  # the large-logit range is tested


@pytest.mark.parametrize("name", sorted(spec.SPECS))
def test_cases_are_deterministic_per_seed_and_differ_across_seeds(name):
    make = spec.SPECS[name].make_cases
    key = "z" if name == "softmax_jacobian" else "Z"
    a, b, c = make(3), make(3), make(4)
    assert all(np.array_equal(x.args[key], y.args[key]) for x, y in zip(a, b))
    assert not np.array_equal(a[0].args[key], c[0].args[key])


def test_the_finite_difference_oracle_agrees_with_the_reference_gradients():
    for case in spec.softmax_cross_entropy_cases(5):
        if "dZ" in case.expected:
            _, dZ = losses.softmax_cross_entropy(case.args["Z"], case.args["y"])
            assert np.linalg.norm(dZ - case.expected["dZ"]) <= 1e-8 * np.linalg.norm(dZ)
    for case in spec.softmax_jacobian_cases(5):
        if "J" in case.expected:
            J = losses.softmax_jacobian(case.args["z"])
            assert np.linalg.norm(J - case.expected["J"]) <= 1e-8 * np.linalg.norm(J)


def test_float_labels_are_part_of_the_cases():
    labels = [case.args["y"] for case in spec.softmax_cross_entropy_cases(0)]
    assert any(y.dtype.kind == "f" for y in labels) and any(y.dtype.kind == "i" for y in labels)


def test_the_jacobian_is_symmetric_so_its_transpose_earns_full_marks():
    """The softmax Jacobian diag(p) - p p^T equals its transpose: 'transposed' is no mistake here."""
    code = ("import numpy as np\ndef softmax_jacobian(z):\n    p = np.exp(z - z.max())\n    p /= p.sum()\n"
            "    return (np.diag(p) - np.outer(p, p)).T\n")
    namespace = {}
    exec(code, namespace)
    assert grading.report_for("softmax_jacobian", namespace, points=3, seed=2).score == 3


def test_nan_from_a_known_mistake_is_named_and_other_nan_gets_the_generic_cause():
    Z = np.array([[1e4, 0.0], [-1e4, -1e4 + 1.0]])
    P = losses.softmax(Z)
    with np.errstate(all="ignore"):
        global_shift = np.exp(Z - Z.max()) / np.exp(Z - Z.max()).sum(axis=1, keepdims=True)
    judge = spec._judge(P, [(global_shift, "the batch's max")], "generic overflow", 1e-6)
    assert judge(P) is None
    assert judge(global_shift) == "the batch's max"
    assert judge(np.array([[np.nan, 0.0], [0.5, 0.5]])) == "generic overflow"
    assert "wrong sign" in judge(-P)


def test_softmax_over_the_batch_axis_is_named_as_the_wrong_axis():
    code = ("import numpy as np\ndef softmax(Z):\n    E = np.exp(Z - Z.max(axis=0))\n    return E / E.sum(axis=0)\n")
    namespace = {}
    exec(code, namespace)
    report = grading.report_for("softmax", namespace, points=3, seed=11)
    assert report.score == 0 and "axis 0" in report.text()
