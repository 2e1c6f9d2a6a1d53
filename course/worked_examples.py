"""The seeds' worked examples, computed with the package in the course's batch-first convention.

Each function returns the example's numbers in a dict, so a chapter can print them and a test
can pin them. Where a source text had the arithmetic wrong, these are the right numbers; the
docstrings say what the slip was. Texts that write z = W a with W of shape (out, in) are mapped
here by transposing: our W is their W.T.
"""
from __future__ import annotations

import numpy as np

from backprop import layers
from backprop.activations import sigmoid
from backprop.autodiff import Value
from backprop.losses import binary_cross_entropy_with_logits, mse_loss
from backprop.network import mlp_loss, softmax_mlp_loss, two_layer_loss
from backprop.train import sgd


def add_mul() -> dict[str, float]:
    """f = (x + y) z at x = -2, y = 5, z = -4: q = 3, f = -12, df/dx = df/dy = z = -4, df/dz = q = 3."""
    x, y, z = Value(-2.0), Value(5.0), Value(-4.0)
    q = x + y
    f = q * z
    f.backward()
    return {"q": q.data, "f": f.data, "dx": x.grad, "dy": y.grad, "dz": z.grad}


def sigmoid_neuron(lr: float = 0.1) -> dict[str, object]:
    """One sigmoid neuron a = sigmoid(w . x + b), binary cross-entropy, one gradient-descent step.

    x = (2, 3), w = (0.5, -0.3), b = 0.1, y = 1. (A source rounded dw2 to -1.3505 before the update
    and printed w2 = -0.1649 afterwards; the step is 0.1350 and the new w2 is -0.1650.)
    """
    X = np.array([[2.0, 3.0]])
    params = {"W1": np.array([[0.5], [-0.3]]), "b1": np.array([0.1])}
    y = np.array([1.0])
    z = float((X @ params["W1"] + params["b1"])[0, 0])
    loss, grads = mlp_loss(params, X, y)
    updated = {k: params[k] - lr * grads[k] for k in params}
    loss_after, _ = mlp_loss(updated, X, y)
    return {
        "z": z, "a": float(sigmoid(z)), "loss": loss, "dz": float(sigmoid(z)) - 1.0,
        "dw": grads["W1"][:, 0], "db": float(grads["b1"][0]),
        "w_new": updated["W1"][:, 0], "b_new": float(updated["b1"][0]), "loss_after": loss_after,
    }


def dead_relu_network() -> dict[str, object]:
    """Affine (3 -> 2), ReLU, affine (2 -> 1), sigmoid, binary cross-entropy on one example.

    x = (1, -1, 2), y = 0; the first hidden unit's pre-activation is -1, so the unit is dead and
    its whole row of weight gradients is zero. (A source printed dL/dW2 for the live unit as 0.0720,
    4 x a rounded 0.0180; it is 0.07194.)
    """
    X = np.array([[1.0, -1.0, 2.0]])
    params = {
        "W1": np.array([[1.0, 2.0, 0.0], [-1.0, 1.0, 3.0]]).T,  # the source's (out, in) matrix, transposed
        "b1": np.zeros(2),
        "W2": np.array([[1.0, -1.0]]).T,
        "b2": np.zeros(1),
    }
    y = np.array([0.0])
    Z1, _ = layers.linear_forward(X, params["W1"], params["b1"])
    A1, _ = layers.relu_forward(Z1)
    Z2, _ = layers.linear_forward(A1, params["W2"], params["b2"])
    loss, grads = two_layer_loss(params, X, y)
    return {"params": params, "z1": Z1[0], "a1": A1[0], "z2": float(Z2[0, 0]), "yhat": float(sigmoid(Z2[0, 0])),
            "loss": loss, "grads": grads}


def regression_121() -> dict[str, object]:
    """1-2-1 network: two sigmoid hidden units, a linear output, L = (1 / 2m) sum (yhat - y)^2, m = 3.

    Inputs x = (1, 2, 0.5), targets (0.8, 0.5, 0.9). The seven gradients dc, dv1, dv2, db1, dw1,
    db2, dw2. (A source carried rounded numbers through and printed dc = -0.224, dv1 = -0.131 and
    dw2 = 0.017; they are -0.2248, -0.1318 and 0.0164.)
    """
    x = np.array([[1.0], [2.0], [0.5]])
    y = np.array([0.8, 0.5, 0.9])
    W1, b1 = np.array([[0.5, -0.3]]), np.array([0.1, -0.2])
    W2, b2 = np.array([[0.8], [-0.6]]), np.array([0.2])
    Z1, cache1 = layers.linear_forward(x, W1, b1)
    A1, cache_s = layers.sigmoid_forward(Z1)
    Yhat, cache2 = layers.linear_forward(A1, W2, b2)
    loss, dYhat = mse_loss(Yhat, y)
    dA1, dW2, db2 = layers.linear_backward(dYhat, cache2)
    _, dW1, db1 = layers.linear_backward(layers.sigmoid_backward(dA1, cache_s), cache1)
    return {
        "a": A1, "yhat": Yhat[:, 0], "loss": loss,
        "grads": {"c": db2[0], "v1": dW2[0, 0], "v2": dW2[1, 0], "b1": db1[0], "w1": dW1[0, 0],
                  "b2": db1[1], "w2": dW1[0, 1]},
    }


def nail_screw_classifier() -> dict[str, object]:
    """2-3-2 classifier: sigmoid hidden and output units, no biases, two examples with soft targets.

    Loss: binary cross-entropy summed over the two outputs, averaged over the two examples.
    (A source computed the second output's pre-activation as 0.265 and 0.291; it is 0.1947 and
    0.1907, which changes yhat2, its error signals and dL/dw32: 0.0358, not 0.035.)
    """
    X = np.array([[1.0, 0.5], [0.8, 0.9]])
    Y = np.array([[0.6, 0.1], [0.1, 0.9]])
    W = np.array([[0.2, 0.2], [0.0, 0.2], [-0.4, 0.3]]).T  # source's w_kj (hidden k, input j), transposed
    V = np.array([[0.1, 0.1, 0.6], [0.4, 0.1, -0.2]]).T
    b, c = np.zeros(3), np.zeros(2)
    Z, cache1 = layers.linear_forward(X, W, b)
    A, cache_s = layers.sigmoid_forward(Z)
    S, cache2 = layers.linear_forward(A, V, c)
    loss, dS = binary_cross_entropy_with_logits(S, Y)
    dA, dV, dc = layers.linear_backward(dS, cache2)
    dZ = layers.sigmoid_backward(dA, cache_s)
    _, dW, db = layers.linear_backward(dZ, cache1)
    # Gradients reported in the source's (out, in) orientation: dW[k, j] = dL/dw_kj.
    return {"A": A, "S": S, "Yhat": sigmoid(S), "dS": dS, "dZ": dZ, "loss": loss,
            "dW": dW.T, "db": db, "dV": dV.T, "dc": dc}


def softmax_overfit(steps: int = 200, lr: float = 0.5) -> dict[str, object]:
    """A 5-4-3 ReLU/softmax MLP trained full-batch on 8 random points in 3 classes.

    The loss falls from 1.1408 to 0.2514 in 200 steps, but not monotonically (it rises briefly
    around steps 82 and 164 at this learning rate), and it levels off near 0.24 rather than
    reaching zero: with 4 hidden units one of the 8 points stays misclassified.
    """
    rng = np.random.default_rng(0)
    params = {
        "W1": rng.standard_normal((5, 4)) * np.sqrt(2 / 5), "b1": np.zeros(4),
        "W2": rng.standard_normal((4, 3)) * np.sqrt(1 / 4), "b2": np.zeros(3),
    }
    data_rng = np.random.default_rng(1)
    X = data_rng.standard_normal((8, 5))
    labels = data_rng.integers(0, 3, size=8)
    result = sgd(softmax_mlp_loss, params, X, labels, lr=lr, epochs=steps)
    return {"params": params, "X": X, "labels": labels, "losses": result.losses, "trained": result.params}
