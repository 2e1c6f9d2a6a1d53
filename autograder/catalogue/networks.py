"""Chapter 3's whole networks: correct variants and common mistakes."""
from __future__ import annotations

from autograder.catalogue import Variant, right, wrong

TWO_LAYER = '''import numpy as np
def two_layer_loss(params, X, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = X.shape[0]
    Z1 = X @ W1 + b1
    A1 = np.maximum(Z1, 0)
    z2 = (A1 @ W2 + b2).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    loss = np.mean(np.logaddexp(0, z2) - y * z2)
    a2 = 1 / (1 + np.exp(-z2))
    dZ2 = ((a2 - y) / N).reshape(-1, 1)
    dW2, db2 = A1.T @ dZ2, dZ2.sum(axis=0)
    dZ1 = (dZ2 @ W2.T) * (Z1 > 0)
    return float(loss), {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0), "W2": dW2, "b2": db2}
'''

MLP = '''import numpy as np
def mlp_loss(params, X, y, activation="relu"):
    acts = {"relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0) * 1.0),
            "tanh": (np.tanh, lambda z, a: 1 - a ** 2),
            "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a))}
    if activation not in acts:
        raise ValueError(f"unknown activation {activation!r}")
    f, df = acts[activation]
    L = len([k for k in params if k.startswith("W")])
    N = X.shape[0]
    A, cache = X, []
    for l in range(1, L + 1):
        Z = A @ params[f"W{l}"] + params[f"b{l}"]
        cache.append((A, Z))
        A = f(Z) if l < L else Z
    z = A.reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    loss = np.mean(np.logaddexp(0, z) - y * z)
    dZ = ((1 / (1 + np.exp(-z)) - y) / N).reshape(-1, 1)
    grads = {}
    for l in range(L, 0, -1):
        A_prev, _ = cache[l - 1]
        grads[f"W{l}"], grads[f"b{l}"] = A_prev.T @ dZ, dZ.sum(axis=0)
        if l > 1:
            Z_prev = cache[l - 2][1]
            dZ = (dZ @ params[f"W{l}"].T) * df(Z_prev, f(Z_prev))
    return float(loss), grads
'''


def _edit(code: str, old: str, new: str) -> str:
    assert old in code, old
    return code.replace(old, new)


TRAIN = '''import numpy as np
def train_two_moons(X, y):
    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((2, 32)), "b1": np.zeros(32),
              "W2": rng.standard_normal((32, 1)) / np.sqrt(32), "b2": np.zeros(1)}
    for step in range(EPOCHS):
        loss, grads = two_layer_loss(params, X, y)
        for k in params:
            params[k] = params[k] - 0.5 * grads[k]
    return params
'''

VARIANTS: list[Variant] = [
    right("two_layer_loss", "from the logit", TWO_LAYER, "loss", "output layer", "hidden layers", "inputs"),
    right("two_layer_loss", "by way of mlp-style loop", MLP.replace("mlp_loss(params, X, y, activation=\"relu\")",
          "two_layer_loss(params, X, y, activation=\"relu\")"), "loss", "output layer", "hidden layers", "inputs"),
    wrong("two_layer_loss", "averaged twice", _edit(TWO_LAYER, "dW2, db2 = A1.T @ dZ2, dZ2.sum(axis=0)",
          "dW2, db2 = A1.T @ dZ2 / N, dZ2.sum(axis=0)"), loss=True, **{"output layer": "times too small",
          "hidden layers": True}, inputs=True),
    wrong("two_layer_loss", "no 1/N", _edit(TWO_LAYER, "dZ2 = ((a2 - y) / N)", "dZ2 = ((a2 - y))"), loss=True,
          **{"output layer": "times too large", "hidden layers": "times too large"}, inputs=True),
    wrong("two_layer_loss", "(N, 1) logits against (N,) labels", _edit(TWO_LAYER,
          "loss = np.mean(np.logaddexp(0, z2) - y * z2)", "Z2 = z2.reshape(-1, 1)\n    loss = np.mean(np.logaddexp(0, Z2) - y * Z2)"),
          loss="(N, N)", **{"output layer": True, "hidden layers": True}, inputs=True),
    wrong("two_layer_loss", "db2 as a scalar", _edit(TWO_LAYER, "dZ2.sum(axis=0)\n    dZ1", "dZ2.sum()\n    dZ1"),
          loss=True, **{"output layer": "db2 is a single number", "hidden layers": True}, inputs=True),
    wrong("two_layer_loss", "mask from A1 via dA", _edit(TWO_LAYER, "* (Z1 > 0)", "* (dZ2 @ W2.T > 0)"),
          loss=True, **{"output layer": True, "hidden layers": "dW1"}, inputs=True),
    wrong("two_layer_loss", "clipped probabilities", _edit(TWO_LAYER, "loss = np.mean(np.logaddexp(0, z2) - y * z2)",
          "a = np.clip(1 / (1 + np.exp(-z2)), 1e-8, 1 - 1e-8)\n    loss = -np.mean(y * np.log(a) + (1 - y) * np.log(1 - a))"),
          **{"output layer": True, "hidden layers": True}, inputs=True, loss=True),
    right("mlp_loss", "loop over layers", MLP, "loss", "output layer", "hidden layers", "tanh: loss", "tanh: output layer",
          "tanh: hidden layers", "sigmoid: loss", "sigmoid: output layer", "sigmoid: hidden layers", "11 layers",
          "11 layers: gradients", "unknown activation", "inputs"),
    wrong("mlp_loss", "activation ignored", _edit(MLP, "f, df = acts[activation]", 'f, df = acts["relu"]'),
          loss=True, **{"output layer": True, "hidden layers": True, "tanh: loss": "ignores the activation",
                        "sigmoid: loss": "ignores the activation", "unknown activation": True}),
    wrong("mlp_loss", "keys in text order", _edit(MLP, "L = len([k for k in params if k.startswith(\"W\")])\n",
          "L = len([k for k in params if k.startswith(\"W\")])\n    order = sorted(range(1, L + 1), key=str)\n"
          "    params = {f\"{p}{i}\": params[f\"{p}{n}\"] for i, n in enumerate(order, start=1) for p in \"Wb\"}\n"),
          loss=True, **{"11 layers": "text order", "unknown activation": True}),
    wrong("mlp_loss", "no error for an unknown activation", _edit(MLP, "raise ValueError(f\"unknown activation {activation!r}\")",
          "activation = \"relu\""), loss=True, **{"unknown activation": "should raise ValueError"}),
    wrong("mlp_loss", "a KeyError for an unknown activation", _edit(MLP,
          "    if activation not in acts:\n        raise ValueError(f\"unknown activation {activation!r}\")\n", ""),
          loss=True, **{"unknown activation": "raised KeyError"}),
    right("train_two_moons", "300 steps of gradient descent", TRAIN.replace("EPOCHS", "300"), "accuracy"),
    wrong("train_two_moons", "too few steps", TRAIN.replace("EPOCHS", "3"), accuracy="more than 95% is needed"),
    wrong("train_two_moons", "returns the loss", TRAIN.replace("EPOCHS", "3").replace("    return params", "    return loss"),
          accuracy="should return a dict"),
]
