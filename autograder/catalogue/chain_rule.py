"""Chapter 1's functions: correct variants and common mistakes."""
from __future__ import annotations

from autograder.catalogue import Variant, right, wrong

NP = "import numpy as np\n"
NAIVE_SIGMOID = NP + "def sigmoid(z):\n    return 1 / (1 + np.exp(-z))\n"
STABLE_SIGMOID = NP + ("def sigmoid(z):\n    z = np.asarray(z, dtype=float)\n    e = np.exp(-np.abs(z))\n"
                       "    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))\n")


def _neuron(loss: str, dw: str = "(a - y) * x", db: str = "a - y") -> str:
    return STABLE_SIGMOID + ("def neuron_grads(x, w, b, y):\n    z = w @ x + b\n    a = sigmoid(z)\n"
                             f"    loss = {loss}\n    return loss, {dw}, {db}\n")


STABLE_LOSS = "np.logaddexp(0, z) - y * z"

VARIANTS: list[Variant] = [
    right("sigmoid", "np.where on exp(-|z|)", STABLE_SIGMOID, "values", "large z", "inputs"),
    right("sigmoid", "via tanh", NP + "def sigmoid(z):\n    return 0.5 * (1 + np.tanh(np.asarray(z) / 2))\n",
          "values", "large z", "inputs"),
    right("sigmoid", "via logaddexp", NP + "def sigmoid(z):\n    return np.exp(-np.logaddexp(0, -np.asarray(z)))\n",
          "values", "large z", "inputs"),
    right("sigmoid", "inputs clipped", NP + "def sigmoid(z):\n    return 1 / (1 + np.exp(-np.clip(z, -500, 500)))\n",
          "values", "large z", "inputs"),
    wrong("sigmoid", "textbook form overflows", NAIVE_SIGMOID, values=True, **{"large z": "overflow", "inputs": True}),
    wrong("sigmoid", "exp(z)", NP + "def sigmoid(z):\n    return 1 / (1 + np.exp(np.clip(z, -500, 500)))\n",
          values="exp(-z)", **{"large z": "exp(-z)"}),
    wrong("sigmoid", "one branch only", NP + "def sigmoid(z):\n    e = np.exp(-np.abs(z))\n    return e / (1 + e)\n",
          values="branch for z >= 0", **{"large z": "branch for z >= 0"}),
    wrong("sigmoid", "scalars only", "import math\ndef sigmoid(z):\n    return 1 / (1 + math.exp(-z))\n",
          values="raised TypeError", **{"large z": "raised"}),
    wrong("sigmoid", "calls the reference", "from backprop.activations import sigmoid as s\ndef sigmoid(z):\n    return s(z)\n",
          values="reference solution", **{"large z": "reference solution"}),
    right("sigmoid_prime", "s * (1 - s)", NAIVE_SIGMOID + "def sigmoid_prime(z):\n    s = sigmoid(z)\n    return s * (1 - s)\n",
          "values", "inputs"),
    right("sigmoid_prime", "exp form", NP + "def sigmoid_prime(z):\n    e = np.exp(-np.asarray(z))\n    return e / (1 + e) ** 2\n",
          "values", "inputs"),
    right("sigmoid_prime", "own sigmoid wrong, derivative right",
          NP + "def sigmoid(z):\n    return 1 / (1 + np.exp(z))\n"
          "def sigmoid_prime(z):\n    s = sigmoid(z)\n    return s * (1 - s)\n", "values", "inputs"),
    wrong("sigmoid_prime", "returns sigmoid", NAIVE_SIGMOID + "def sigmoid_prime(z):\n    return sigmoid(z)\n",
          values="not its derivative"),
    wrong("sigmoid_prime", "z for s", NAIVE_SIGMOID + "def sigmoid_prime(z):\n    return z * (1 - z)\n", values="uses z where"),
    wrong("sigmoid_prime", "1 + s", NAIVE_SIGMOID + "def sigmoid_prime(z):\n    s = sigmoid(z)\n    return s * (1 + s)\n",
          values="(1 + s)"),
    wrong("sigmoid_prime", "central differences of its own sigmoid",
          NAIVE_SIGMOID + "def sigmoid_prime(z):\n    h = 1e-5\n    return (sigmoid(z + h) - sigmoid(z - h)) / (2 * h)\n",
          values="computed numerically", inputs=True),
    right("add_mul_grads", "by the chain rule", "def add_mul_grads(x, y, z):\n    q = x + y\n    f = q * z\n"
          "    dq = z\n    return f, dq * 1.0, dq * 1.0, q\n", "f", "dx", "dy", "dz", "inputs"),
    right("add_mul_grads", "a list", "def add_mul_grads(x, y, z):\n    return [(x + y) * z, z, z, x + y]\n",
          "f", "dx", "dy", "dz", "inputs"),
    wrong("add_mul_grads", "no chain rule", "def add_mul_grads(x, y, z):\n    return (x + y) * z, 1.0, 1.0, x + y\n",
          f=True, dx="chain rule", dy="chain rule", dz=True, inputs=True),
    wrong("add_mul_grads", "dz as x * y", "def add_mul_grads(x, y, z):\n    return (x + y) * z, z, z, x * y\n",
          f=True, dx=True, dy=True, dz="x * y", inputs=True),
    wrong("add_mul_grads", "precedence", "def add_mul_grads(x, y, z):\n    return x + y * z, z, z, x + y\n",
          f="sum must be taken first", dx=True, dy=True, dz=True, inputs=True),
    wrong("add_mul_grads", "f only", "def add_mul_grads(x, y, z):\n    return (x + y) * z\n",
          f="should return 4 values", dx="should return 4 values", dy="should return 4 values",
          dz="should return 4 values"),
    right("neuron_grads", "logaddexp loss", _neuron(STABLE_LOSS), "loss", "dw", "db", "loss (|logit| up to 1000)", "inputs"),
    right("neuron_grads", "softplus of both signs", _neuron("(1 - y) * np.logaddexp(0, z) + y * np.logaddexp(0, -z)"),
          "loss", "dw", "db", "loss (|logit| up to 1000)", "inputs"),
    right("neuron_grads", "max/log1p form", _neuron("np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))"),
          "loss", "dw", "db", "loss (|logit| up to 1000)", "inputs"),
    wrong("neuron_grads", "log of probabilities", _neuron("-(y * np.log(a) + (1 - y) * np.log(1 - a))"),
          loss=True, dw=True, db=True, inputs=True, **{"loss (|logit| up to 1000)": "lose their digits"}),
    wrong("neuron_grads", "probabilities clipped at 1e-8",
          _neuron("-(y * np.log(np.clip(a, 1e-8, 1)) + (1 - y) * np.log(np.clip(1 - a, 1e-8, 1)))"),
          loss=True, dw=True, db=True, inputs=True, **{"loss (|logit| up to 1000)": "clips the probability"}),
    wrong("neuron_grads", "w for x", _neuron(STABLE_LOSS, dw="(a - y) * w"), loss=True, dw="w where x belongs", db=True,
          inputs=True, **{"loss (|logit| up to 1000)": True}),
    wrong("neuron_grads", "extra sigmoid derivative", _neuron(STABLE_LOSS, dw="a * (1 - a) * (a - y) * x",
          db="a * (1 - a) * (a - y)"), loss=True, dw="a(1 - a) again", db="a(1 - a) again", inputs=True,
          **{"loss (|logit| up to 1000)": True}),
    wrong("neuron_grads", "central differences of its own loss",
          NP + "def loss_of(x, w, b, y):\n    z = w @ x + b\n    return np.logaddexp(0, z) - y * z\n"
          "def neuron_grads(x, w, b, y):\n    h = 1e-6\n"
          "    dw = np.array([(loss_of(x, w + h * e, b, y) - loss_of(x, w - h * e, b, y)) / (2 * h) for e in np.eye(len(w))])\n"
          "    db = (loss_of(x, w, b + h, y) - loss_of(x, w, b - h, y)) / (2 * h)\n    return loss_of(x, w, b, y), dw, db\n",
          loss=True, dw="computed numerically", db="computed numerically", inputs=True,
          **{"loss (|logit| up to 1000)": True}),
    wrong("neuron_grads", "wrong sign", _neuron(STABLE_LOSS, dw="(y - a) * x", db="y - a"), loss=True,
          dw="wrong sign", db="wrong sign", inputs=True, **{"loss (|logit| up to 1000)": True}),
]
