"""Dict-parameter networks: gradients by finite differences, the key order, and the contract."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from backprop import network
from backprop.gradcheck import numerical_gradient
from conftest import assert_matches_numeric, off_kink

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def random_params(rng, sizes):
    params = network.init_params(sizes, seed=int(rng.integers(1000)))
    for l in range(1, len(sizes)):
        params[f"b{l}"] = off_kink(rng, params[f"b{l}"].shape, margin=0.1)
    return params


def min_relu_input(params, X):
    """The smallest |pre-activation| that enters a ReLU, over the batch (inf for one layer)."""
    net, _ = network.build_network(params, "relu")
    _, caches = net.forward(X)
    inputs = [cache for layer, cache in zip(net.layers, caches) if not layer.params]
    return min((np.abs(z).min() for z in inputs), default=np.inf)


@pytest.mark.parametrize("activation", network.HIDDEN_ACTIVATIONS)
@given(N=st.integers(1, 5), hidden=st.lists(st.integers(1, 5), max_size=3), D=st.integers(1, 4), seed=seeds)
def test_mlp_loss_gradients(activation, N, hidden, D, seed):
    rng = np.random.default_rng(seed)
    params = random_params(rng, [D, *hidden, 1])
    X = rng.standard_normal((N, D))
    y = rng.integers(0, 2, N)
    if activation == "relu":
        assume(min_relu_input(params, X) > 0.05)  # finite differences must not straddle a kink
    before = {k: v.copy() for k, v in params.items()}
    X_before = X.copy()
    loss, grads = network.mlp_loss(params, X, y, activation)
    assert isinstance(loss, float)
    assert {k: g.shape for k, g in grads.items()} == {k: p.shape for k, p in params.items()}
    for name in params:
        numeric = numerical_gradient(lambda _: network.mlp_loss(params, X, y, activation)[0], params[name])
        assert_matches_numeric(grads[name], numeric, f_scale=loss)
    np.testing.assert_array_equal(X, X_before)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


@given(N=st.integers(1, 5), C=st.integers(2, 5), seed=seeds)
def test_softmax_mlp_loss_gradients(N, C, seed):
    rng = np.random.default_rng(seed)
    params = random_params(rng, [3, 4, C])
    X, y = rng.standard_normal((N, 3)), rng.integers(0, C, N)
    loss, grads = network.softmax_mlp_loss(params, X, y, "tanh")
    for name in params:
        numeric = numerical_gradient(lambda _: network.softmax_mlp_loss(params, X, y, "tanh")[0], params[name])
        assert_matches_numeric(grads[name], numeric, f_scale=loss)


def test_layer_number_not_dict_order_gives_the_order():
    rng = np.random.default_rng(3)
    sizes = [3] + [2] * 11 + [1]  # L = 12: 'W10' sorts before 'W2' as text
    params = random_params(rng, sizes)
    shuffled = {k: params[k] for k in sorted(params, key=lambda k: rng.random())}
    X, y = rng.standard_normal((4, 3)), np.array([0, 1, 1, 0])
    loss_a, grads_a = network.mlp_loss(params, X, y, "tanh")
    loss_b, grads_b = network.mlp_loss(shuffled, X, y, "tanh")
    assert loss_a == loss_b and network.layer_count(shuffled) == 12
    for k in grads_a:
        np.testing.assert_array_equal(grads_a[k], grads_b[k])


@pytest.mark.parametrize("sizes", [[3, 1], [3, 4, 1], [3, 4, 4, 1]])
def test_unknown_activation_raises_at_any_depth(sizes):
    params = network.init_params(sizes)
    with pytest.raises(ValueError, match="activation must be one of"):
        network.mlp_loss(params, np.ones((2, 3)), np.array([0, 1]), "softplus")


@pytest.mark.parametrize("keys", [["W1", "b1", "W3", "b3"], ["W1"], ["W1", "b1", "c1"], []])
def test_malformed_params_are_a_clear_error(keys):
    params = {k: np.zeros((1, 1)) for k in keys}
    with pytest.raises(ValueError, match="W1..WL and b1..bL"):
        network.layer_count(params)


def test_two_layer_loss_is_the_relu_mlp_and_insists_on_two_layers():
    rng = np.random.default_rng(0)
    params = random_params(rng, [2, 5, 1])
    X, y = rng.standard_normal((6, 2)), rng.integers(0, 2, 6)
    assert network.two_layer_loss(params, X, y)[0] == network.mlp_loss(params, X, y, "relu")[0]
    with pytest.raises(ValueError, match="two_layer_loss takes"):
        network.two_layer_loss(random_params(rng, [2, 3, 3, 1]), X, y)


def test_binary_loss_stays_finite_for_huge_logits():
    params = {"W1": np.array([[100.0]]), "b1": np.array([0.0])}
    X, y = np.array([[30.0], [-30.0]]), np.array([0, 1])  # logits of +-3000, both wrong
    loss, grads = network.mlp_loss(params, X, y)
    assert loss == pytest.approx(3000.0) and all(np.all(np.isfinite(g)) for g in grads.values())


def test_predictions_and_accuracy():
    params = {"W1": np.array([[1.0], [-1.0]]), "b1": np.array([0.0])}
    X = np.array([[2.0, 1.0], [1.0, 2.0]])
    np.testing.assert_array_equal(network.predict(params, X), [1, 0])
    np.testing.assert_allclose(network.predict_proba(params, X), [1 / (1 + np.exp(-1)), 1 / (1 + np.exp(1))])
    assert network.accuracy(params, X, [1, 1]) == 0.5
