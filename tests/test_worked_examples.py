"""The seeds' worked examples with the right numbers.

Expected values were computed independently (float64, by hand-written forward passes, and
checked by central differences); where a seed's printed number is wrong, the test also shows
that the course does not repeat it.
"""
import numpy as np
import pytest

from backprop import worked_examples as ex
from backprop.gradcheck import gradient_check
from backprop.network import mlp_loss, softmax_mlp_loss, two_layer_loss

REL = 1e-10


def test_add_mul():
    assert ex.add_mul() == {"q": 3.0, "f": -12.0, "dx": -4.0, "dy": -4.0, "dz": 3.0}


def test_sigmoid_neuron():
    r = ex.sigmoid_neuron()
    assert r["z"] == pytest.approx(0.2, rel=REL, abs=0)
    assert r["a"] == pytest.approx(0.549833997312478, rel=REL, abs=0)
    assert r["loss"] == pytest.approx(0.5981388693815918, rel=REL, abs=0)
    np.testing.assert_allclose(r["dw"], [-0.9003320053750441, -1.3504980080625661], rtol=REL)
    assert r["db"] == pytest.approx(-0.45016600268752205, rel=REL, abs=0)
    np.testing.assert_allclose(r["w_new"], [0.5900332005375044, -0.16495019919374335], rtol=REL)
    assert r["b_new"] == pytest.approx(0.1450166002687522, rel=REL, abs=0)
    assert r["loss_after"] == pytest.approx(0.3618252294, rel=1e-9, abs=0)
    assert round(r["w_new"][1], 4) == -0.1650  # a seed printed -0.1649


def test_dead_relu_network():
    r = ex.dead_relu_network()
    np.testing.assert_array_equal(r["z1"], [-1.0, 4.0])
    np.testing.assert_array_equal(r["a1"], [0.0, 4.0])
    assert r["z2"] == -4.0
    assert r["yhat"] == pytest.approx(0.01798620996209156, rel=REL, abs=0)
    assert r["loss"] == pytest.approx(0.01814992791780974, rel=REL, abs=0)
    g = r["grads"]
    d2 = 0.01798620996209156  # yhat - y
    np.testing.assert_allclose(g["W2"][:, 0], [0.0, 4 * d2], rtol=REL)
    assert g["b2"][0] == pytest.approx(d2, rel=REL, abs=0)
    # The dead unit (pre-activation -1) passes no gradient: its column of W1 (row, in the source) is zero.
    np.testing.assert_array_equal(g["W1"][:, 0], 0.0)
    np.testing.assert_allclose(g["W1"][:, 1], [-d2, d2, -2 * d2], rtol=REL)
    np.testing.assert_allclose(g["b1"], [0.0, -d2], rtol=REL, atol=0)
    assert round(g["W2"][1, 0], 4) == 0.0719  # a seed printed 0.0720
    errors = gradient_check(lambda p: two_layer_loss(p, np.array([[1.0, -1.0, 2.0]]), [0])[0], r["params"], g)
    assert max(errors.values()) < 1e-7


def test_regression_121_seven_gradients():
    r = ex.regression_121()
    np.testing.assert_allclose(r["yhat"], [0.4900006, 0.6141928, 0.4212646], atol=5e-8)
    assert r["loss"] == pytest.approx(0.05638786058673507, rel=REL, abs=0)
    expected = {
        "c": -0.22484732422044235, "v1": -0.13177111747198492, "v2": -0.0931784949772254,
        "b1": -0.04416500426255595, "w1": -0.022980383307319753, "b2": 0.03290322858458907,
        "w2": 0.016408631808344898,
    }
    assert set(r["grads"]) == set(expected)
    for name, value in expected.items():
        assert r["grads"][name] == pytest.approx(value, rel=1e-9, abs=0), name
    # Seeds' rounded-too-early values, and the right ones at the same precision.
    assert (round(r["grads"]["c"], 3), round(r["grads"]["v1"], 3), round(r["grads"]["w2"], 3)) == (-0.225, -0.132, 0.016)


def test_nail_screw_classifier():
    r = ex.nail_screw_classifier()
    np.testing.assert_allclose(r["S"], [[0.37263626989758103, 0.1947102256497172],
                                        [0.4054085036403725, 0.1906635777083631]], rtol=REL)
    np.testing.assert_allclose(r["Yhat"], [[0.5920958402594758, 0.5485243483113673],
                                           [0.5999864148508356, 0.5475220191628484]], rtol=REL)
    assert r["loss"] == pytest.approx(1.4730194814401174, rel=REL, abs=0)
    np.testing.assert_allclose(r["dW"], [[0.012991217713000474, 0.0009698142328738742],
                                         [0.006957206275010011, 0.0043931033764224425],
                                         [0.025402240849197056, 0.035842119604080035]], rtol=1e-9)
    np.testing.assert_allclose(r["dV"], [[0.14377341986884057, 0.13414126228373827, 0.12014202604357706],
                                         [0.025868579773409464, 0.021704068078199763, 0.012270283137749955]], rtol=1e-9)
    np.testing.assert_allclose(r["dc"], [0.24604112755515573, 0.048023183737107844], rtol=1e-9)
    assert abs(r["S"][0, 1] - 0.265) > 0.05  # a seed's slip
    assert round(r["dW"][2, 1], 3) == 0.036 and round(r["dV"][0, 2], 3) == 0.120


def test_softmax_overfit():
    r = ex.softmax_overfit()
    losses = np.array(r["losses"])
    np.testing.assert_array_equal(r["labels"], [2, 2, 0, 1, 2, 0, 1, 2])
    assert losses[0] == pytest.approx(1.1407984990430198, rel=1e-9, abs=0)
    assert losses[-1] == pytest.approx(0.251388335411155, rel=1e-7, abs=0)
    # Not monotone: the loss rises at steps 82-83 and 164-165 (0-based) at this learning rate.
    rises = np.flatnonzero(np.diff(losses) > 0) + 1
    assert list(rises) == [82, 83, 164, 165]
    errors = gradient_check(lambda p: softmax_mlp_loss(p, r["X"], r["labels"])[0], r["params"],
                            softmax_mlp_loss(r["params"], r["X"], r["labels"])[1])
    assert max(errors.values()) < 1e-7


def test_softmax_overfit_levels_off_instead_of_reaching_zero():
    r = ex.softmax_overfit(steps=2000)
    assert r["losses"][-1] == pytest.approx(0.2396, abs=5e-4)
    logits = r["X"] @ r["trained"]["W1"] + r["trained"]["b1"]
    predictions = (np.maximum(logits, 0) @ r["trained"]["W2"] + r["trained"]["b2"]).argmax(axis=1)
    assert np.sum(predictions == r["labels"]) == 7


def test_sigmoid_neuron_matches_mlp_loss_at_depth_one():
    r = ex.sigmoid_neuron()
    params = {"W1": np.array([[0.5], [-0.3]]), "b1": np.array([0.1])}
    assert mlp_loss(params, np.array([[2.0, 3.0]]), [1])[0] == r["loss"]
