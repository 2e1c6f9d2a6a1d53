"""Every catalogued submission gets its verdict: mistakes caught and named, correct variants full marks."""
import numpy as np
import pytest

from autograder import grading
from autograder.catalogue import Variant, all_variants, run, verdict_problems

VARIANTS = all_variants()

SEEDS = (0, 12345)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v.graded}: {v.label}")
def test_variant_gets_its_verdict(variant, seed):
    report = run(variant, seed)
    assert verdict_problems(variant, report) == [], report.text()


def test_verdict_problems_can_fail():
    """A catalogue entry expecting the wrong verdict is reported, whichever way it is wrong."""
    right_one = next(v for v in VARIANTS if v.correct)
    report = run(right_one)
    claimed_wrong = Variant(right_one.graded, "claimed wrong", right_one.code, {p: "nonsense" for p in right_one.expect})
    assert verdict_problems(claimed_wrong, report)
    wrong_one = next(v for v in VARIANTS if not v.correct and v.graded == "linear_backward")
    claimed_right = Variant(wrong_one.graded, "claimed right", wrong_one.code, dict.fromkeys(wrong_one.expect, True))
    assert verdict_problems(claimed_right, run(wrong_one))


def test_catalogue_covers_every_graded_function_both_ways():
    graded = {v.graded for v in VARIANTS}
    assert graded == set(grading.GRADERS)
    for name in graded:
        kinds = {v.correct for v in VARIANTS if v.graded == name}
        assert kinds == {True, False}, name


def test_unwritten_release_stub_scores_zero_everywhere():
    stub = "def {0}(*args):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    for name in grading.GRADERS:
        namespace = {}
        for needed in {name, name.replace("backward", "forward"), "sigmoid", "sigmoid_prime"}:
            exec(stub.format(needed), namespace)
        report = grading.report_for(name, namespace, points=2.0, seed=0)
        assert report.score == 0.0, report.text()


def test_grade_prints_and_returns_partial_credit(capsys):
    namespace = {}
    exec(VARIANTS[[v.label for v in VARIANTS].index("dW averaged over the batch")].code, namespace)
    score = grading.grade("linear_backward", namespace, points=3, seed=0)
    printed = capsys.readouterr()
    assert score == pytest.approx(3 * 2.5 / 3.5, rel=1e-6, abs=0)
    assert "N = 4 times too small" in printed.out and printed.err == ""


def test_check_raises_with_the_first_problem_and_passes_when_right(capsys):
    namespace = {}
    exec([v for v in VARIANTS if v.label == "mask from dA"][0].code, namespace)
    with pytest.raises(AssertionError, match="relu_backward: dZ: takes the mask from the sign of dA"):
        grading.check("relu_backward", namespace)
    exec([v for v in VARIANTS if v.label == "np.where"][0].code, namespace)
    grading.check("relu_backward", namespace)


def test_warnings_and_prints_become_notes_not_stderr(capsys):
    code = ("import numpy as np, sys\ndef sigmoid_forward(Z):\n    print('debug', Z.shape)\n"
            "    print('oops', file=sys.stderr)\n    np.log(-np.ones(1))\n    return 1 / (1 + np.exp(-Z)), Z\n")
    namespace = {}
    exec(code, namespace)
    score = grading.grade("sigmoid_forward", namespace, points=1, seed=0)
    printed = capsys.readouterr()
    assert score == 1.0 and printed.err == ""
    assert "note: printed: debug" in printed.out and "note: wrote to stderr: oops" in printed.out
    assert "RuntimeWarning" in printed.out


def test_missing_function_is_named():
    report = grading.report_for("tanh_backward", {}, points=1.0)
    assert report.score == 0 and "tanh_backward is not defined" in report.text()


def test_reports_are_deterministic_per_seed_and_differ_across_seeds():
    from autograder.specs.layers import linear_cases
    a, b, c = linear_cases(1), linear_cases(1), linear_cases(2)
    assert all(np.array_equal(x.inputs["X"], y.inputs["X"]) for x, y in zip(a, b))
    assert not np.array_equal(a[1].inputs["X"], c[1].inputs["X"])


def test_a_wrong_layer_is_charged_in_its_own_exercise_not_again_in_the_network():
    from autograder.catalogue.layers import LINEAR_FORWARD
    from autograder.catalogue.networks import MLP

    uses_layers = LINEAR_FORWARD + (
        "def linear_backward(dZ, cache):\n    X, W, b = cache\n    return dZ @ W.T, X.T @ dZ / X.shape[0], dZ.sum(axis=0)\n"
        "def two_layer_loss(params, X, y):\n    import numpy as np\n"
        "    Z1, c1 = linear_forward(X, params['W1'], params['b1'])\n    A1 = np.maximum(Z1, 0)\n"
        "    z2, c2 = linear_forward(A1, params['W2'], params['b2'])\n    z = z2.reshape(-1)\n"
        "    y = np.asarray(y, float).reshape(-1)\n    loss = np.mean(np.logaddexp(0, z) - y * z)\n"
        "    dz2 = ((1 / (1 + np.exp(-z)) - y) / len(y)).reshape(-1, 1)\n"
        "    dA1, dW2, db2 = linear_backward(dz2, c2)\n    _, dW1, db1 = linear_backward(dA1 * (Z1 > 0), c1)\n"
        "    return float(loss), {'W1': dW1, 'b1': db1, 'W2': dW2, 'b2': db2}\n")
    namespace = {}
    exec(uses_layers, namespace)
    assert not grading.report_for("linear_backward", namespace).passed
    network = grading.report_for("two_layer_loss", namespace, points=4)
    assert network.score == 4 and "in place of yours" in network.text()
    assert namespace["linear_backward"].__module__ != "backprop.layers"  # the student's own is back afterwards
    # A network written without the layer functions is graded on its own, with no note.
    plain = {}
    exec(MLP, plain)
    assert not grading.report_for("mlp_loss", plain).notes
