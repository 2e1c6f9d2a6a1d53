"""Chapter 3's layer functions: correct variants and common mistakes."""
from __future__ import annotations

from autograder.catalogue import Variant, right, wrong

LINEAR_FORWARD = "import numpy as np\ndef linear_forward(X, W, b):\n    return X @ W + b, (X, W, b)\n"
RELU_FORWARD = "import numpy as np\ndef relu_forward(Z):\n    return np.maximum(Z, 0), Z\n"
SIGMOID_FORWARD = "import numpy as np\ndef sigmoid_forward(Z):\n    A = 1 / (1 + np.exp(-Z))\n    return A, A\n"
TANH_FORWARD = "import numpy as np\ndef tanh_forward(Z):\n    A = np.tanh(Z)\n    return A, A\n"


def _linear_backward(body: str) -> str:
    return LINEAR_FORWARD + "def linear_backward(dZ, cache):\n    X, W, b = cache\n" + body


def _backward(forward: str, name: str, body: str) -> str:
    return forward + f"def {name}_backward(dA, cache):\n" + body


VARIANTS: list[Variant] = [
    # linear_forward
    right("linear_forward", "matmul and broadcasting", LINEAR_FORWARD, "out", "inputs"),
    right("linear_forward", "einsum", "import numpy as np\ndef linear_forward(X, W, b):\n"
          "    return np.einsum('nd,dm->nm', X, W) + b[None, :], (X, W)\n", "out", "inputs"),
    right("linear_forward", "loops", "import numpy as np\ndef linear_forward(X, W, b):\n"
          "    Z = np.zeros((X.shape[0], W.shape[1]))\n    for n in range(X.shape[0]):\n"
          "        for m in range(W.shape[1]):\n            Z[n, m] = sum(X[n, d] * W[d, m] for d in range(X.shape[1])) + b[m]\n"
          "    return Z, (X, W, b)\n", "out", "inputs"),
    wrong("linear_forward", "no bias", "def linear_forward(X, W, b):\n    return X @ W, (X, W)\n", out="leaves out the bias"),
    wrong("linear_forward", "bias subtracted", "def linear_forward(X, W, b):\n    return X @ W - b, (X, W)\n",
          out="subtracts the bias"),
    wrong("linear_forward", "no cache", "def linear_forward(X, W, b):\n    return X @ W + b\n", out="should return a pair"),
    wrong("linear_forward", "unwritten stub", "def linear_forward(X, W, b):\n    raise NotImplementedError()\n",
          out="not written yet"),
    wrong("linear_forward", "calls the reference", "from backprop.layers import linear_forward as ref\n"
          "def linear_forward(X, W, b):\n    return ref(X, W, b)\n", out="reference solution"),
    # linear_backward
    right("linear_backward", "matmuls", _linear_backward("    return dZ @ W.T, X.T @ dZ, dZ.sum(axis=0)\n"),
          "dX", "dW", "db", "inputs"),
    right("linear_backward", "einsum, ones-vector bias", _linear_backward(
        "    import numpy as np\n    return (np.einsum('nm,dm->nd', dZ, W), np.einsum('nd,nm->dm', X, dZ),\n"
        "            np.ones(X.shape[0]) @ dZ)\n"), "dX", "dW", "db", "inputs"),
    right("linear_backward", "sum of outer products", _linear_backward(
        "    import numpy as np\n    dW = np.zeros_like(W)\n    for n in range(X.shape[0]):\n"
        "        dW += np.outer(X[n], dZ[n])\n    return dZ.dot(W.T), dW, np.sum(dZ, axis=0)\n"), "dX", "dW", "db", "inputs"),
    right("linear_backward", "own cache layout (X, W)", "def linear_forward(X, W, b):\n    return X @ W + b, (X, W)\n"
          "def linear_backward(dZ, cache):\n    X, W = cache\n    return dZ @ W.T, X.T @ dZ, dZ.sum(axis=0)\n",
          "dX", "dW", "db", "inputs"),
    wrong("linear_backward", "dW averaged over the batch", _linear_backward(
        "    return dZ @ W.T, X.T @ dZ / X.shape[0], dZ.sum(axis=0)\n"), dX=True, dW="N = 4 times too small", db=True,
        inputs=True),
    wrong("linear_backward", "db averaged", _linear_backward("    return dZ @ W.T, X.T @ dZ, dZ.mean(axis=0)\n"),
          dX=True, dW=True, db="times too small", inputs=True),
    wrong("linear_backward", "db keepdims", _linear_backward(
        "    return dZ @ W.T, X.T @ dZ, dZ.sum(axis=0, keepdims=True)\n"), dX=True, dW=True, db="shape (1, ", inputs=True),
    wrong("linear_backward", "db not summed", _linear_backward("    return dZ @ W.T, X.T @ dZ, dZ\n"),
          dX=True, dW=True, db="not summed over the batch", inputs=True),
    wrong("linear_backward", "db summed over everything", _linear_backward("    return dZ @ W.T, X.T @ dZ, dZ.sum()\n"),
          dX=True, dW=True, db="summed over every axis", inputs=True),
    wrong("linear_backward", "db summed over axis 1", _linear_backward("    return dZ @ W.T, X.T @ dZ, dZ.sum(axis=1)\n"),
          dX=True, dW=True, db="wrong axis", inputs=True),
    wrong("linear_backward", "db from the first example", _linear_backward("    return dZ @ W.T, X.T @ dZ, dZ[0]\n"),
          dX=True, dW=True, db="first example", inputs=True),
    wrong("linear_backward", "dW transposed", _linear_backward("    return dZ @ W.T, dZ.T @ X, dZ.sum(axis=0)\n"),
          dX=True, dW="transpose", db=True, inputs=True),
    wrong("linear_backward", "dX with W not transposed", _linear_backward(
        "    return dZ @ W, X.T @ dZ, dZ.sum(axis=0)\n"), dX="W where W.T belongs", dW="raised ValueError",
        db="raised ValueError"),
    wrong("linear_backward", "dX wrong sign", _linear_backward("    return -dZ @ W.T, X.T @ dZ, dZ.sum(axis=0)\n"),
          dX="wrong sign", dW=True, db=True, inputs=True),
    wrong("linear_backward", "all zeros", _linear_backward(
        "    import numpy as np\n    return np.zeros_like(X), np.zeros_like(W), np.zeros_like(b)\n"),
        dX="all zeros", dW="all zeros", db="all zeros"),
    wrong("linear_backward", "returns None", _linear_backward("    dX = dZ @ W.T\n"),
          dX="should return 3 gradients", dW="should return 3 gradients", db="should return 3 gradients"),
    wrong("linear_backward", "modifies dZ in place", _linear_backward(
        "    db = dZ.sum(axis=0)\n    dZ *= 1.0\n    dZ[:] = dZ\n    dZ += 0.0\n    dZ.sort(axis=0)\n"
        "    return None, None, db\n"), dX="is None", dW="is None", db=True, inputs="in place"),
    wrong("linear_backward", "finite differences through the forward", _linear_backward(
        "    import numpy as np\n    def grad(arr):\n        g = np.zeros_like(arr)\n"
        "        for i in np.ndindex(arr.shape):\n            old = arr[i]\n            arr[i] = old + 1e-5\n"
        "            up = np.sum(linear_forward(X, W, b)[0] * dZ)\n            arr[i] = old - 1e-5\n"
        "            down = np.sum(linear_forward(X, W, b)[0] * dZ)\n            arr[i] = old\n"
        "            g[i] = (up - down) / 2e-5\n        return g\n"
        "    X, W, b = X.copy(), W.copy(), b.copy()\n    return grad(X), grad(W), grad(b)\n"),
        dX="finite-difference", dW="finite-difference", db="finite-difference"),
    wrong("linear_backward", "finite differences inline", _linear_backward(
        "    import numpy as np\n    X, W, b = X.copy(), W.copy(), b.copy()\n    def grad(arr):\n        g = np.zeros_like(arr)\n"
        "        for i in np.ndindex(arr.shape):\n            old = arr[i]\n            arr[i] = old + 1e-6\n"
        "            up = np.sum((X @ W + b) * dZ)\n            arr[i] = old - 1e-6\n"
        "            down = np.sum((X @ W + b) * dZ)\n            arr[i] = old\n"
        "            g[i] = (up - down) / 2e-6\n        return g\n    return grad(X), grad(W), grad(b)\n"),
        dX="computed numerically", dW="computed numerically", db="computed numerically"),
    wrong("linear_backward", "calls the reference", "import backprop.layers as L\n" + LINEAR_FORWARD +
          "def linear_backward(dZ, cache):\n    X, W, b = cache\n    return L.linear_backward(dZ, (X, W))\n",
          dX="reference solution", dW="reference solution", db="reference solution"),
    wrong("linear_backward", "hard-coded shapes", _linear_backward(
        "    import numpy as np\n    return dZ @ W.T, X.T @ dZ, np.full(2, dZ.sum())\n"),
        dX=True, dW=True, db="has shape (2,), expected (3,)", inputs=True),
    # relu
    right("relu_forward", "np.maximum", RELU_FORWARD, "out", "inputs"),
    right("relu_forward", "mask multiply", "def relu_forward(Z):\n    return Z * (Z > 0), Z\n", "out", "inputs"),
    wrong("relu_forward", "returns the mask", "def relu_forward(Z):\n    return (Z > 0).astype(float), Z\n",
          out="returns the mask"),
    wrong("relu_forward", "keeps the negative part", "import numpy as np\ndef relu_forward(Z):\n    return np.minimum(Z, 0), Z\n",
          out="negative part"),
    wrong("relu_forward", "in place", "def relu_forward(Z):\n    Z[Z < 0] = 0\n    return Z, Z\n", out=True,
          inputs="in place"),
    right("relu_backward", "mask from Z", _backward(RELU_FORWARD, "relu", "    return dA * (cache > 0)\n"), "dZ", "inputs"),
    right("relu_backward", "np.where", _backward(RELU_FORWARD, "relu", "    return np.where(cache > 0, dA, 0.0)\n"),
          "dZ", "inputs"),
    right("relu_backward", "cache holds A", _backward("import numpy as np\ndef relu_forward(Z):\n    A = np.maximum(Z, 0)\n"
          "    return A, A\n", "relu", "    dZ = dA.copy()\n    dZ[cache <= 0] = 0\n    return dZ\n"), "dZ", "inputs"),
    wrong("relu_backward", "mask from dA", _backward(RELU_FORWARD, "relu", "    return dA * (dA > 0)\n"),
          dZ="sign of dA"),
    wrong("relu_backward", "mask alone", _backward(RELU_FORWARD, "relu", "    return (cache > 0).astype(float)\n"),
          dZ="mask alone"),
    wrong("relu_backward", "times ReLU(Z)", _backward(RELU_FORWARD, "relu", "    return dA * np.maximum(cache, 0)\n"),
          dZ="instead of its derivative"),
    wrong("relu_backward", "mask inverted", _backward(RELU_FORWARD, "relu", "    return dA * (cache < 0)\n"),
          dZ="inverted"),
    wrong("relu_backward", "no mask", _backward(RELU_FORWARD, "relu", "    return dA\n"), dZ="mask (Z > 0) is missing"),
    wrong("relu_backward", "in place", _backward(RELU_FORWARD, "relu", "    dA[cache <= 0] = 0\n    return dA\n"),
          dZ=True, inputs="in place"),
    wrong("relu_backward", "calls the reference", "from backprop.layers import relu_backward as ref\n" +
          _backward(RELU_FORWARD, "relu", "    return ref(dA, cache)\n"), dZ="reference solution"),
    # sigmoid
    right("sigmoid_forward", "textbook form", SIGMOID_FORWARD, "out", "inputs"),
    right("sigmoid_forward", "via tanh", "import numpy as np\ndef sigmoid_forward(Z):\n"
          "    return 0.5 * (1 + np.tanh(Z / 2)), Z\n", "out", "inputs"),
    wrong("sigmoid_forward", "exp(Z)", "import numpy as np\ndef sigmoid_forward(Z):\n    return 1 / (1 + np.exp(Z)), Z\n",
          out="exp(-Z)"),
    right("sigmoid_backward", "cache holds A", _backward(SIGMOID_FORWARD, "sigmoid", "    return dA * cache * (1 - cache)\n"),
          "dZ", "inputs"),
    right("sigmoid_backward", "cache holds Z", _backward(
        "import numpy as np\ndef sigmoid_forward(Z):\n    return 1 / (1 + np.exp(-Z)), Z\n", "sigmoid",
        "    e = np.exp(-cache)\n    return dA * e / (1 + e) ** 2\n"), "dZ", "inputs"),
    wrong("sigmoid_backward", "derivative from Z", _backward(
        "import numpy as np\ndef sigmoid_forward(Z):\n    return 1 / (1 + np.exp(-Z)), Z\n", "sigmoid",
        "    return dA * cache * (1 - cache)\n"), dZ="uses Z where A"),
    wrong("sigmoid_backward", "sigmoid applied twice", _backward(SIGMOID_FORWARD, "sigmoid",
          "    s = 1 / (1 + np.exp(-cache))\n    return dA * s * (1 - s)\n"), dZ="twice"),
    wrong("sigmoid_backward", "dA forgotten", _backward(SIGMOID_FORWARD, "sigmoid", "    return cache * (1 - cache)\n"),
          dZ="local derivative alone"),
    wrong("sigmoid_backward", "1 - A dropped", _backward(SIGMOID_FORWARD, "sigmoid", "    return dA * cache\n"),
          dZ="drops the (1 - A)"),
    # tanh
    right("tanh_forward", "np.tanh", TANH_FORWARD, "out", "inputs"),
    right("tanh_forward", "exponentials", "import numpy as np\ndef tanh_forward(Z):\n"
          "    return (np.exp(Z) - np.exp(-Z)) / (np.exp(Z) + np.exp(-Z)), Z\n", "out", "inputs"),
    wrong("tanh_forward", "identity", "def tanh_forward(Z):\n    return Z, Z\n", out="unchanged"),
    right("tanh_backward", "1 - A**2", _backward(TANH_FORWARD, "tanh", "    return dA * (1 - cache ** 2)\n"), "dZ", "inputs"),
    right("tanh_backward", "1 / cosh**2 from Z", _backward("import numpy as np\ndef tanh_forward(Z):\n"
          "    return np.tanh(Z), Z\n", "tanh", "    return dA / np.cosh(cache) ** 2\n"), "dZ", "inputs"),
    wrong("tanh_backward", "derivative from Z", _backward("import numpy as np\ndef tanh_forward(Z):\n"
          "    return np.tanh(Z), Z\n", "tanh", "    return dA * (1 - cache ** 2)\n"), dZ="uses Z where A"),
    wrong("tanh_backward", "1 - A", _backward(TANH_FORWARD, "tanh", "    return dA * (1 - cache)\n"), dZ="1 - A where"),
    wrong("tanh_backward", "dA forgotten", _backward(TANH_FORWARD, "tanh", "    return 1 - cache ** 2\n"),
          dZ="local derivative alone"),
    wrong("tanh_backward", "in float32", _backward(TANH_FORWARD, "tanh",
          "    A = cache.astype(np.float32)\n    return (dA * (1 - A ** 2)).astype(np.float64)\n"), dZ="float32"),
]
