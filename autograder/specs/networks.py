"""Chapter 3's whole networks: two_layer_loss, mlp_loss, train_two_moons."""
from __future__ import annotations

from typing import Any

import numpy as np

from autograder.function_grading import FunctionCase, FunctionSpec
from autograder.layer_grading import references
from backprop import data, network

NET_PARTS = ("loss", "output layer", "hidden layers")


def _params(rng: np.random.Generator, sizes: list[int], X: np.ndarray, activation: str) -> dict[str, np.ndarray]:
    """Random parameters whose ReLU inputs all stay at least 0.05 from the kink (redrawn until so)."""
    for _ in range(100):
        params = {}
        for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            params[f"W{l}"] = rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
            params[f"b{l}"] = rng.uniform(-0.5, 0.5, fan_out)
        if activation != "relu" or _min_relu_input(params, X) > 0.05:
            return params
    raise RuntimeError("could not draw parameters away from the ReLU kink")


def _min_relu_input(params: dict[str, np.ndarray], X: np.ndarray) -> float:
    net, _ = network.build_network(params, "relu")
    _, caches = net.forward(X)
    inputs = [cache for layer, cache in zip(net.layers, caches) if not layer.params]
    return float(min((np.abs(z).min() for z in inputs), default=np.inf))


def _split(grads: dict[str, np.ndarray], L: int) -> dict[str, dict[str, np.ndarray]]:
    """Gradients grouped as the report grades them: the output layer, and the layers below it."""
    return {"output layer": {k: grads[k] for k in (f"W{L}", f"b{L}")},
            "hidden layers": {k: v for k, v in grads.items() if k not in (f"W{L}", f"b{L}")}}


def _broadcast_loss(params, X, y, activation) -> float:
    """The loss averaged over the (N, N) matrix that (N, 1) logits minus-times (N,) labels broadcast to."""
    Z = network.forward_logits(params, X, activation)  # (N, 1)
    return float(np.mean(np.logaddexp(0, Z) - y.reshape(-1) * Z))


def network_case(rng, sizes, activation, label, y_as_float=False) -> FunctionCase:
    N = int(rng.integers(1, 7)) if sizes[0] < 4 else 5
    X = rng.standard_normal((N, sizes[0]))
    y = rng.integers(0, 2, N)
    params = _params(rng, sizes, X, activation)
    loss, grads = network.mlp_loss(params, X, y, activation)
    L = len(sizes) - 1
    expected = {"loss": loss, **_split(grads, L)}
    args = {"params": params, "X": X, "y": y.astype(float) if y_as_float else y}
    mistakes: dict[str, list] = {}
    if N > 1:
        mistakes["loss"] = [(_broadcast_loss(params, X, y, activation),
                             "averages over an (N, N) matrix: the (N, 1) logits and the (N,) labels broadcast "
                             "against each other; reshape one to match the other")]
    if activation != "relu" and len(sizes) > 2:
        wrong_loss, wrong_grads = network.mlp_loss(params, X, y, "relu")
        note = f"ignores the activation argument: these are ReLU's values, not {activation}'s"
        mistakes["loss"] = [(wrong_loss, note)]
        mistakes["output layer"] = mistakes.get("output layer", []) + [(_split(wrong_grads, L)["output layer"], note)]
        mistakes["hidden layers"] = [(_split(wrong_grads, L)["hidden layers"], note)]
    if L >= 10:
        order = sorted(range(1, L + 1), key=str)  # 'W10' sorts before 'W2' as text
        if all(params[f"W{a}"].shape[1] == params[f"W{b}"].shape[0] for a, b in zip(order[:-1], order[1:])):
            shuffled = {f"{p}{i}": params[f"{p}{n}"] for i, n in enumerate(order, start=1) for p in "Wb"}
            wrong_loss, _ = network.mlp_loss(shuffled, X, y, activation)
            mistakes["loss"] = mistakes.get("loss", []) + [
                (wrong_loss, "takes the layers in the keys' text order ('W10' before 'W2'); sort by the layer number")]
    hint = ("; with 11 layers: are the layers taken in the keys' text order ('W10' before 'W2')? "
            "Sort by the layer number") if L >= 10 else ""
    return FunctionCase(args, expected, label, mistakes, tolerance=1e-6, batch=N, hint=hint)


def _unpack_network(value: Any, L_of: Any = None) -> dict[str, Any] | str:
    if not isinstance(value, tuple) or len(value) != 2:
        count = f"{len(value)} values" if isinstance(value, tuple) else f"a {type(value).__name__}"
        return f"should return (loss, grads); it returned {count}"
    loss, grads = value
    if not isinstance(grads, dict):
        return f"should return grads as a dict with the keys of params; got a {type(grads).__name__}"
    layers = [int(k[1:]) for k in grads if isinstance(k, str) and k[:1] == "W" and k[1:].isdigit()]
    L = max(layers, default=0)
    return {"loss": loss, **_split_loose(grads, L)}


def _split_loose(grads: dict, L: int) -> dict[str, Any]:
    """Like _split, tolerating missing keys (a missing gradient is then reported, not a crash)."""
    out = {k: grads.get(k) for k in (f"W{L}", f"b{L}")}
    hidden = {k: v for k, v in grads.items() if k not in out}
    return {"output layer": out, "hidden layers": hidden}


def two_layer_cases(seed: int) -> list[FunctionCase]:
    rng = np.random.default_rng(seed)
    shapes = [(3, 5), (2, 4), (4, 3), (1, 6)]  # (D, H)
    return [network_case(rng, [D, H, 1], "relu", f"D={D}, H={H}", y_as_float=(i == 1)) for i, (D, H) in enumerate(shapes)]


def mlp_cases(seed: int) -> list[FunctionCase]:
    rng = np.random.default_rng(seed)
    cases = [network_case(rng, sizes, "relu", f"relu, sizes {sizes}") for sizes in ([3, 1], [2, 4, 1], [3, 4, 3, 1])]
    for activation in ("tanh", "sigmoid"):
        case = network_case(rng, [3, 4, 3, 1], activation, f"{activation}, sizes [3, 4, 3, 1]")
        case.expected = {f"{activation}: {k}": v for k, v in case.expected.items()}
        case.mistakes = {f"{activation}: {k}": v for k, v in case.mistakes.items()}
        case.reads = {f"{activation}: {k}": k for k in ("loss", "output layer", "hidden layers")}
        cases.append(case)
    deep = network_case(rng, [2] + [3] * 10 + [1], "tanh", "11 layers (W10 and W11 after W9)")
    deep.expected = {"11 layers": deep.expected["loss"], "11 layers: gradients": deep.expected["hidden layers"]}
    deep.mistakes = {"11 layers": deep.mistakes.get("loss", [])}
    deep.reads = {"11 layers": "loss", "11 layers: gradients": "hidden layers"}
    deep.args["activation"] = "tanh"
    cases.append(deep)
    for case in cases[3:5]:
        case.args["activation"] = case.label.split(",")[0]
    return cases


def _unknown_activation_cases(seed: int) -> list[FunctionCase]:
    rng = np.random.default_rng(seed + 1)
    cases = []
    for sizes in ([3, 1], [3, 4, 1]):
        X = rng.standard_normal((2, 3))
        params = _params(rng, sizes, X, "tanh")
        cases.append(FunctionCase({"params": params, "X": X, "y": np.array([0, 1]), "activation": "softplus"},
                                  {"unknown activation": "ValueError"}, f"activation='softplus', {len(sizes) - 1} layer(s)",
                                  expect_error=ValueError))
    return cases


def train_cases(seed: int) -> list[FunctionCase]:
    X, y = data.two_moons(400, noise=0.1, seed=seed)
    return [FunctionCase({"X": X, "y": y}, {"accuracy": 0.95}, f"two moons, 400 points, seed {seed}",
                         judge=_accuracy_judge(seed))]


def _accuracy_judge(seed: int):
    X_test, y_test = data.two_moons(400, noise=0.1, seed=seed + 1)

    def judge(params: Any) -> str | None:
        if not isinstance(params, dict) or not {"W1", "b1", "W2", "b2"} <= set(params):
            return "should return a dict with W1, b1, W2, b2"
        try:
            clean = {k: np.asarray(params[k], dtype=np.float64) for k in ("W1", "b1", "W2", "b2")}
            accuracy = network.accuracy(clean, X_test, y_test, "relu")
        except Exception as error:  # noqa: BLE001 - wrong shapes from a student's params, say which
            return f"returned parameters that do not fit the network: {type(error).__name__}: {error}"
        if accuracy > 0.95:
            return None
        return f"reaches {accuracy:.1%} on 400 new points; more than 95% is needed"

    return judge


TWO_LAYER_LOSS = FunctionSpec("two_layer_loss", dict.fromkeys(NET_PARTS, 1.0), two_layer_cases, _unpack_network,
                              references(network.two_layer_loss, network.mlp_loss, network.network_loss))
MLP_LOSS = FunctionSpec(
    "mlp_loss",
    {**dict.fromkeys(NET_PARTS, 1.0), "tanh: loss": 0.5, "tanh: output layer": 0.5, "tanh: hidden layers": 0.5,
     "sigmoid: loss": 0.5, "sigmoid: output layer": 0.5, "sigmoid: hidden layers": 0.5,
     "11 layers": 1.0, "11 layers: gradients": 1.0, "unknown activation": 1.0},
    lambda seed: mlp_cases(seed) + _unknown_activation_cases(seed), _unpack_network,
    references(network.two_layer_loss, network.mlp_loss, network.network_loss))
# Training may call two_layer_loss (the student's, swapped for the trusted one while graded) and any helper.
TRAIN_TWO_MOONS = FunctionSpec("train_two_moons", {"accuracy": 1.0}, train_cases, lambda value: {"accuracy": value},
                               substitutes={"two_layer_loss": network.two_layer_loss})

SPECS = {spec.name: spec for spec in (TWO_LAYER_LOSS, MLP_LOSS, TRAIN_TWO_MOONS)}
