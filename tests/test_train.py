"""Training with the package: the loss falls, and a two-layer net learns two moons."""
import numpy as np

from backprop import data, network, train


def test_two_layer_network_beats_95_percent_on_held_out_moons():
    X, y = data.two_moons(400, noise=0.1, seed=0)
    X_test, y_test = data.two_moons(400, noise=0.1, seed=1)
    start = network.init_params([2, 32, 1], seed=0)
    result = train.sgd(network.two_layer_loss, start, X, y, lr=0.5, epochs=400)
    assert network.accuracy(result.params, X_test, y_test) > 0.95
    assert result.losses[-1] < 0.25 * result.losses[0]


def test_sgd_does_not_touch_the_starting_params_and_is_seeded():
    X, y = data.spirals(20, 3, seed=0)
    start = network.init_params([2, 16, 3], seed=0)
    before = {k: v.copy() for k, v in start.items()}
    a = train.sgd(network.softmax_mlp_loss, start, X, y, lr=0.3, epochs=30, batch_size=16, seed=4)
    b = train.sgd(network.softmax_mlp_loss, start, X, y, lr=0.3, epochs=30, batch_size=16, seed=4)
    for k in start:
        np.testing.assert_array_equal(start[k], before[k])
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert len(a.losses) == 30 and a.losses[-1] < a.losses[0]


def test_on_epoch_sees_every_epoch():
    X, y = data.xor(5, seed=0)
    seen = []
    train.sgd(network.mlp_loss, network.init_params([2, 4, 1]), X, y, epochs=7,
              on_epoch=lambda epoch, loss, params: seen.append((epoch, loss)))
    assert [e for e, _ in seen] == list(range(7))
