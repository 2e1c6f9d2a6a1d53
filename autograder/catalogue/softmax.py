"""Chapter 4's functions: correct variants and common mistakes.

Every mistake the issue names is here (no max shift, log of softmax, the wrong axis, keepdims
missing, loss not averaged, gradient not divided, one-hot built wrong, float labels used as
indices, clipping, modifying Z in place), and more. A "transposed Jacobian" is not among them: the
softmax Jacobian is symmetric, so J.T is right too (a variant below gets full marks for it); the
transposition that matters is the batch's, a softmax over axis 0.
"""
from __future__ import annotations

from autograder.catalogue import Variant, right, wrong

NP = "import numpy as np\n"
SOFTMAX_PARTS = ("values", "large logits", "inputs")
CE_PARTS = ("loss", "dZ", "large logits", "inputs")


def _softmax(body: str) -> str:
    return NP + "def softmax(Z):\n" + body


def _log_softmax(body: str) -> str:
    return NP + "def log_softmax(Z):\n" + body


def _ce(body: str, prelude: str = "") -> str:
    return NP + prelude + "def softmax_cross_entropy(Z, y):\n" + body


def _jacobian(body: str, prelude: str = "") -> str:
    return NP + prelude + "def softmax_jacobian(z):\n" + body


STABLE = _softmax("    E = np.exp(Z - Z.max(axis=1, keepdims=True))\n    return E / E.sum(axis=1, keepdims=True)\n")
STABLE_LOG = _log_softmax("    S = Z - Z.max(axis=1, keepdims=True)\n"
                          "    return S - np.log(np.exp(S).sum(axis=1, keepdims=True))\n")
CE_GOOD = ("    N = Z.shape[0]\n    y = np.asarray(y).astype(int)\n    logP = log_softmax(Z)\n"
           "    loss = -logP[np.arange(N), y].mean()\n    Y = np.zeros_like(Z)\n    Y[np.arange(N), y] = 1\n"
           "    return loss, (np.exp(logP) - Y) / N\n")


def _ce_with(loss: str = "-logP[np.arange(N), y].mean()", dZ: str = "(P - Y) / N",
             labels: str = "np.asarray(y).astype(int)", one_hot: str = "Y[np.arange(N), y] = 1") -> str:
    return _ce(f"    N = Z.shape[0]\n    y = {labels}\n    logP = log_softmax(Z)\n    P = softmax(Z)\n"
               f"    Y = np.zeros_like(Z)\n    {one_hot}\n    loss = {loss}\n    return loss, {dZ}\n")


SOFTMAX_VARIANTS: list[Variant] = [
    right("softmax", "shifted, keepdims", STABLE, *SOFTMAX_PARTS),
    right("softmax", "axis=-1", _softmax("    E = np.exp(Z - np.max(Z, axis=-1, keepdims=True))\n"
                                        "    return E / np.sum(E, axis=-1, keepdims=True)\n"), *SOFTMAX_PARTS),
    right("softmax", "[:, None] instead of keepdims", _softmax("    E = np.exp(Z - Z.max(axis=1)[:, None])\n"
                                                             "    return E / E.sum(axis=1)[:, None]\n"), *SOFTMAX_PARTS),
    right("softmax", "a loop over rows", _softmax("    P = np.empty_like(Z, dtype=float)\n    for n in range(Z.shape[0]):\n"
                                                  "        e = np.exp(Z[n] - max(Z[n]))\n        P[n] = e / e.sum()\n"
                                                  "    return P\n"), *SOFTMAX_PARTS),
    right("softmax", "exp of own log-sum-exp", _softmax(
        "    m = Z.max(axis=1, keepdims=True)\n    lse = m + np.log(np.sum(np.exp(Z - m), axis=1, keepdims=True))\n"
        "    return np.exp(Z - lse)\n"), *SOFTMAX_PARTS),
    right("softmax", "transposed twice", _softmax("    T = Z.T - Z.T.max(axis=0)\n    E = np.exp(T)\n"
                                                  "    return (E / E.sum(axis=0)).T\n"), *SOFTMAX_PARTS),
    right("softmax", "shift rebinds Z (no in-place change)", _softmax(
        "    Z = Z - Z.max(axis=1, keepdims=True)\n    Z = np.exp(Z)\n    Z /= Z.sum(axis=1, keepdims=True)\n"
        "    return Z\n"), *SOFTMAX_PARTS),
    wrong("softmax", "no max shift", _softmax("    E = np.exp(Z)\n    return E / E.sum(axis=1, keepdims=True)\n"),
          values=True, inputs=True, **{"large logits": "exp overflows"}),
    wrong("softmax", "logits clipped instead of shifted", _softmax(
        "    E = np.exp(np.clip(Z, -500, 500))\n    return E / E.sum(axis=1, keepdims=True)\n"),
          values=True, inputs=True, **{"large logits": "clips the logits"}),
    wrong("softmax", "shift by the whole batch's max", _softmax(
        "    E = np.exp(Z - Z.max())\n    return E / E.sum(axis=1, keepdims=True)\n"),
          values=True, inputs=True, **{"large logits": "whole batch"}),
    wrong("softmax", "over the columns (axis 0)", _softmax(
        "    E = np.exp(Z - Z.max(axis=0, keepdims=True))\n    return E / E.sum(axis=0, keepdims=True)\n"),
          values="axis 0", **{"large logits": "axis 0"}),
    wrong("softmax", "keepdims missing", _softmax("    E = np.exp(Z - Z.max(axis=1))\n    return E / E.sum(axis=1)\n"),
          values="keepdims", **{"large logits": "raised ValueError"}),
    wrong("softmax", "keepdims missing in the sum only", _softmax(
        "    E = np.exp(Z - Z.max(axis=1, keepdims=True))\n    return E / E.sum(axis=1)\n"),
          values="keepdims", **{"large logits": "raised ValueError"}),
    wrong("softmax", "sum over the whole array", _softmax("    E = np.exp(Z - Z.max(axis=1, keepdims=True))\n"
                                                          "    return E / E.sum()\n"),
          values="whole batch", **{"large logits": "whole batch"}),
    wrong("softmax", "not normalised", _softmax("    return np.exp(Z - Z.max(axis=1, keepdims=True))\n"),
          values="without the division", **{"large logits": "without the division"}),
    wrong("softmax", "exp(-Z)", _softmax("    E = np.exp(-Z - (-Z).max(axis=1, keepdims=True))\n"
                                         "    return E / E.sum(axis=1, keepdims=True)\n"),
          values="exp(-Z)", **{"large logits": "exp(-Z)"}),
    wrong("softmax", "returns log-probabilities", STABLE_LOG.replace("log_softmax", "softmax"),
          values="log-probabilities", **{"large logits": "log-probabilities"}),
    wrong("softmax", "float32", _softmax("    Z = np.asarray(Z, dtype=np.float32)\n"
                                         "    E = np.exp(Z - Z.max(axis=1, keepdims=True))\n"
                                         "    return E / E.sum(axis=1, keepdims=True)\n"),
          values="float32", inputs=True, **{"large logits": True}),
    wrong("softmax", "shift in place (Z -= max)", _softmax(
        "    Z -= Z.max(axis=1, keepdims=True)\n    E = np.exp(Z)\n    return E / E.sum(axis=1, keepdims=True)\n"),
          values=True, inputs="modified Z in place", **{"large logits": True}),
    wrong("softmax", "calls the reference", "from backprop.losses import softmax as s\ndef softmax(Z):\n    return s(Z)\n",
          values="reference solution", **{"large logits": "reference solution"}),
    wrong("softmax", "exp of the reference log_softmax",
          "import numpy as np\nfrom backprop import losses\ndef softmax(Z):\n    return np.exp(losses.log_softmax(Z))\n",
          values="reference solution", **{"large logits": "reference solution"}),
]

LOG_SOFTMAX_VARIANTS: list[Variant] = [
    right("log_softmax", "shift, then log-sum-exp", STABLE_LOG, *SOFTMAX_PARTS),
    right("log_softmax", "own logsumexp helper (no scipy)", NP + (
        "def logsumexp(Z):\n    m = np.max(Z, axis=1, keepdims=True)\n"
        "    return m + np.log(np.sum(np.exp(Z - m), axis=1, keepdims=True))\n"
        "def log_softmax(Z):\n    return Z - logsumexp(Z)\n"), *SOFTMAX_PARTS),
    right("log_softmax", "np.logaddexp.reduce", _log_softmax(
        "    return Z - np.logaddexp.reduce(Z, axis=1, keepdims=True)\n"), *SOFTMAX_PARTS),
    right("log_softmax", "a loop over rows", _log_softmax(
        "    out = np.empty(Z.shape)\n    for n, z in enumerate(Z):\n        m = z.max()\n"
        "        out[n] = z - m - np.log(np.sum(np.exp(z - m)))\n    return out\n"), *SOFTMAX_PARTS),
    right("log_softmax", "[:, None] instead of keepdims", _log_softmax(
        "    m = Z.max(axis=1)\n    return Z - (m + np.log(np.exp(Z - m[:, None]).sum(axis=1)))[:, None]\n"),
          *SOFTMAX_PARTS),
    wrong("log_softmax", "log of softmax", _log_softmax("    return np.log(softmax(Z))\n"),
          values=True, inputs=True, **{"large logits": "log(softmax(Z)) is log 0"}),
    wrong("log_softmax", "log of the clipped softmax", _log_softmax("    return np.log(np.clip(softmax(Z), 1e-12, 1))\n"),
          values=True, inputs=True, **{"large logits": "clips the probabilities at 1e-12"}),
    wrong("log_softmax", "log of softmax plus epsilon", _log_softmax("    return np.log(softmax(Z) + 1e-8)\n"),
          values="relative error", inputs=True, **{"large logits": "(or adds 1e-08)"}),
    wrong("log_softmax", "log-sum-exp without the shift", _log_softmax(
        "    return Z - np.log(np.sum(np.exp(Z), axis=1, keepdims=True))\n"),
          values=True, inputs=True, **{"large logits": "log(softmax(Z)) is log 0"}),
    wrong("log_softmax", "max left out of log-sum-exp", _log_softmax(
        "    m = Z.max(axis=1, keepdims=True)\n    return Z - np.log(np.sum(np.exp(Z - m), axis=1, keepdims=True))\n"),
          values="leaves the max out", **{"large logits": "leaves the max out"}),
    wrong("log_softmax", "over the columns (axis 0)", _log_softmax(
        "    m = Z.max(axis=0, keepdims=True)\n    return Z - m - np.log(np.sum(np.exp(Z - m), axis=0, keepdims=True))\n"),
          values="axis 0", **{"large logits": "axis 0"}),
    wrong("log_softmax", "keepdims missing", _log_softmax(
        "    m = Z.max(axis=1)\n    return Z - m - np.log(np.sum(np.exp(Z - m), axis=1))\n"),
          values="keepdims", **{"large logits": "raised ValueError"}),
    wrong("log_softmax", "sum over the whole array", _log_softmax(
        "    S = Z - Z.max(axis=1, keepdims=True)\n    return S - np.log(np.exp(S).sum())\n"),
          values="whole batch", **{"large logits": "whole batch"}),
    wrong("log_softmax", "returns the probabilities", _log_softmax("    return softmax(Z)\n"),
          values="not their logarithm", **{"large logits": "not their logarithm"}),
    wrong("log_softmax", "wrong sign", _log_softmax(
        "    m = Z.max(axis=1, keepdims=True)\n    return m + np.log(np.sum(np.exp(Z - m), axis=1, keepdims=True)) - Z\n"),
          values="wrong sign", **{"large logits": "wrong sign"}),
    wrong("log_softmax", "shift in place (Z -= max)", _log_softmax(
        "    Z -= Z.max(axis=1, keepdims=True)\n    return Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))\n"),
          values=True, inputs="modified Z in place", **{"large logits": True}),
    wrong("log_softmax", "calls the reference",
          "from backprop.losses import log_softmax as ls\ndef log_softmax(Z):\n    return ls(Z)\n",
          values="reference solution", **{"large logits": "reference solution"}),
]

CE_VARIANTS: list[Variant] = [
    right("softmax_cross_entropy", "log_softmax and a one-hot", STABLE_LOG + _ce(CE_GOOD), *CE_PARTS),
    right("softmax_cross_entropy", "np.take_along_axis", STABLE_LOG + STABLE + _ce(
        "    y = np.asarray(y, dtype=int)\n    N = len(y)\n    logP = log_softmax(Z)\n"
        "    loss = -np.take_along_axis(logP, y[:, None], axis=1).mean()\n"
        "    dZ = softmax(Z)\n    np.put_along_axis(dZ, y[:, None], np.take_along_axis(dZ, y[:, None], axis=1) - 1, axis=1)\n"
        "    return loss, dZ / N\n"), *CE_PARTS),
    right("softmax_cross_entropy", "np.eye one-hot, inline log-sum-exp", _ce(
        "    N, C = Z.shape\n    Y = np.eye(C)[np.asarray(y, dtype=np.int64)]\n    S = Z - Z.max(axis=1, keepdims=True)\n"
        "    logP = S - np.log(np.exp(S).sum(axis=1, keepdims=True))\n"
        "    return -np.sum(Y * logP) / N, (np.exp(logP) - Y) / N\n"), *CE_PARTS),
    right("softmax_cross_entropy", "a loop over examples", _ce(
        "    N = Z.shape[0]\n    loss, dZ = 0.0, np.zeros(Z.shape)\n    for n in range(N):\n"
        "        z = Z[n] - Z[n].max()\n        lse = np.log(np.exp(z).sum())\n        k = int(y[n])\n"
        "        loss += lse - z[k]\n        dZ[n] = np.exp(z - lse)\n        dZ[n, k] -= 1\n"
        "    return loss / N, dZ / N\n"), *CE_PARTS),
    right("softmax_cross_entropy", "copies Z, then shifts in place", _ce(
        "    Z = np.array(Z, dtype=float)\n    Z -= Z.max(axis=1, keepdims=True)\n    N = len(Z)\n"
        "    lse = np.log(np.exp(Z).sum(axis=1))\n    rows, y = np.arange(N), np.asarray(y).astype(int)\n"
        "    loss = np.mean(lse - Z[rows, y])\n    dZ = np.exp(Z - lse[:, None])\n    dZ[rows, y] -= 1\n"
        "    return float(loss), dZ / N\n"), *CE_PARTS),
    wrong("softmax_cross_entropy", "loss summed, not averaged", STABLE + STABLE_LOG + _ce_with(
        loss="-logP[np.arange(N), y].sum()"), loss="N = ", dZ=True, inputs=True, **{"large logits": "N = "}),
    wrong("softmax_cross_entropy", "gradient not divided by N", STABLE + STABLE_LOG + _ce_with(dZ="P - Y"),
          loss=True, dZ="1/N missing", inputs=True, **{"large logits": "1/N missing"}),
    wrong("softmax_cross_entropy", "divided by N twice", STABLE + STABLE_LOG + _ce_with(dZ="(P - Y) / N**2"),
          loss=True, dZ="too small", inputs=True, **{"large logits": "too small"}),
    wrong("softmax_cross_entropy", "one loss per example", STABLE + STABLE_LOG + _ce_with(loss="-logP[np.arange(N), y]"),
          loss="one loss per example", dZ=True, inputs=True, **{"large logits": "one loss per example"}),
    wrong("softmax_cross_entropy", "one-hot with Y[:, y] = 1", STABLE + STABLE_LOG + _ce_with(
        loss="-np.sum(Y * logP) / N", one_hot="Y[:, y] = 1"),
          loss="fills whole columns", dZ="fills whole columns", **{"large logits": "fills whole columns"}),
    wrong("softmax_cross_entropy", "loss from logP[:, y]", STABLE + STABLE_LOG + _ce_with(loss="-logP[:, y].mean()"),
          loss="(N, N) block", dZ=True, inputs=True, **{"large logits": "(N, N) block"}),
    wrong("softmax_cross_entropy", "labels used as given (floats fail)", STABLE + STABLE_LOG + _ce_with(labels="y"),
          loss="convert them first", dZ="convert them first", inputs=True, **{"large logits": True}),
    wrong("softmax_cross_entropy", "wrong sign of the gradient", STABLE + STABLE_LOG + _ce_with(dZ="(Y - P) / N"),
          loss=True, dZ="wrong sign", inputs=True, **{"large logits": "wrong sign"}),
    wrong("softmax_cross_entropy", "logits for probabilities", STABLE + STABLE_LOG + _ce_with(dZ="(Z - Y) / N"),
          loss=True, dZ="uses the logits Z", inputs=True, **{"large logits": "uses the logits Z"}),
    wrong("softmax_cross_entropy", "P - 1 everywhere", STABLE + STABLE_LOG + _ce_with(dZ="(P - 1) / N"),
          loss=True, dZ="subtracts 1 from every entry", inputs=True, **{"large logits": "subtracts 1 from every entry"}),
    wrong("softmax_cross_entropy", "gradient with respect to P", STABLE + STABLE_LOG + _ce_with(dZ="-Y / (P * N)"),
          loss=True, dZ="with respect to the probabilities", inputs=True,
          **{"large logits": "with respect to the probabilities"}),
    wrong("softmax_cross_entropy", "extra softmax derivative", STABLE + STABLE_LOG + _ce_with(
        dZ="P * (1 - P) * (P - Y) / N"), loss=True, dZ="p(1 - p) as well", inputs=True,
          **{"large logits": "p(1 - p) as well"}),
    wrong("softmax_cross_entropy", "softmax over the columns", _ce(
        "    N = Z.shape[0]\n    E = np.exp(Z - Z.max(axis=0))\n    P = E / E.sum(axis=0)\n    y = np.asarray(y, int)\n"
        "    Y = np.eye(Z.shape[1])[y]\n    return -np.log(P[np.arange(N), y]).mean(), (P - Y) / N\n"),
          loss="axis 0", dZ="axis 0", **{"large logits": "axis 0"}),
    wrong("softmax_cross_entropy", "loss from clipped probabilities", STABLE + STABLE_LOG + _ce_with(
        loss="-np.log(np.clip(P[np.arange(N), y], 1e-8, 1)).mean()"),
          loss=True, dZ=True, inputs=True, **{"large logits": "clips the probabilities at 1e-08"}),
    wrong("softmax_cross_entropy", "loss from probabilities plus epsilon", STABLE + STABLE_LOG + _ce_with(
        loss="-np.log(P[np.arange(N), y] + 1e-12).mean()"),
          loss=True, dZ=True, inputs=True, **{"large logits": "(or adds 1e-12)"}),
    wrong("softmax_cross_entropy", "loss from the log of probabilities", STABLE + STABLE_LOG + _ce_with(
        loss="-np.log(P[np.arange(N), y]).mean()"),
          loss=True, dZ=True, inputs=True, **{"large logits": "rounded to 0"}),
    wrong("softmax_cross_entropy", "loss as -sum(Y * log P)", STABLE + STABLE_LOG + _ce_with(
        loss="-np.sum(Y * np.log(P)) / N"), loss=True, dZ=True, inputs=True, **{"large logits": "rounded to 0"}),
    wrong("softmax_cross_entropy", "unshifted softmax inside", _ce(
        "    N = Z.shape[0]\n    E = np.exp(Z)\n    P = E / E.sum(axis=1, keepdims=True)\n    y = np.asarray(y, int)\n"
        "    Y = np.eye(Z.shape[1])[y]\n    return -np.log(P[np.arange(N), y]).mean(), (P - Y) / N\n"),
          loss=True, dZ=True, inputs=True, **{"large logits": "NaN"}),
    wrong("softmax_cross_entropy", "shifts Z in place", _ce(
        "    Z -= Z.max(axis=1, keepdims=True)\n    N = len(Z)\n    lse = np.log(np.exp(Z).sum(axis=1))\n"
        "    rows, y = np.arange(N), np.asarray(y).astype(int)\n    dZ = np.exp(Z - lse[:, None])\n    dZ[rows, y] -= 1\n"
        "    return np.mean(lse - Z[rows, y]), dZ / N\n"),
          loss=True, dZ=True, inputs="modified Z in place", **{"large logits": True}),
    wrong("softmax_cross_entropy", "calls the reference",
          "from backprop import losses\ndef softmax_cross_entropy(Z, y):\n    return losses.softmax_cross_entropy(Z, y)\n",
          loss="reference solution", dZ="reference solution", **{"large logits": "reference solution"}),
]

JACOBIAN_PARTS = ("J", "large logits", "inputs")
P_OF_Z = "    z = np.asarray(z, dtype=float)\n    e = np.exp(z - z.max())\n    p = e / e.sum()\n"

JACOBIAN_VARIANTS: list[Variant] = [
    right("softmax_jacobian", "np.diag - np.outer", _jacobian(P_OF_Z + "    return np.diag(p) - np.outer(p, p)\n"),
          *JACOBIAN_PARTS),
    right("softmax_jacobian", "einsum", _jacobian(
        P_OF_Z + "    C = p.size\n    return np.einsum('i,ij->ij', p, np.eye(C)) - np.einsum('i,j->ij', p, p)\n"),
          *JACOBIAN_PARTS),
    right("softmax_jacobian", "two loops", _jacobian(
        P_OF_Z + "    C = len(p)\n    J = np.zeros((C, C))\n    for i in range(C):\n        for j in range(C):\n"
        "            J[i, j] = p[i] * ((i == j) - p[j])\n    return J\n"), *JACOBIAN_PARTS),
    right("softmax_jacobian", "p[:, None] * (I - p)", _jacobian(
        P_OF_Z + "    return p[:, None] * (np.eye(len(p)) - p[None, :])\n"), *JACOBIAN_PARTS),
    right("softmax_jacobian", "transposed (the Jacobian is symmetric)", _jacobian(
        P_OF_Z + "    J = np.zeros((p.size, p.size))\n    for j in range(p.size):\n"
        "        J[j] = p[j] * ((np.arange(p.size) == j) - p)\n    return J.T\n"), *JACOBIAN_PARTS),
    right("softmax_jacobian", "uses the student's batch softmax on a row", STABLE + _jacobian(
        "    p = softmax(z[None, :])[0]\n    return np.diag(p) - np.outer(p, p)\n"), *JACOBIAN_PARTS),
    wrong("softmax_jacobian", "diag(p) alone", _jacobian(P_OF_Z + "    return np.diag(p)\n"),
          J="diag(p) alone", **{"large logits": "diag(p) alone"}),
    wrong("softmax_jacobian", "outer product alone", _jacobian(P_OF_Z + "    return -np.outer(p, p)\n"),
          J="diagonal term diag(p) is missing", **{"large logits": "diagonal term"}),
    wrong("softmax_jacobian", "diagonal only", _jacobian(P_OF_Z + "    return np.diag(p * (1 - p))\n"),
          J="off-diagonal entries", **{"large logits": "off-diagonal entries"}),
    wrong("softmax_jacobian", "wrong sign", _jacobian(P_OF_Z + "    return np.outer(p, p) - np.diag(p)\n"),
          J="wrong sign", **{"large logits": "wrong sign"}),
    wrong("softmax_jacobian", "dot product for outer product", _jacobian(P_OF_Z + "    return np.diag(p) - p @ p\n"),
          J="dot product", **{"large logits": "dot product"}),
    wrong("softmax_jacobian", "p_i (delta_ij - p_i)", _jacobian(
        P_OF_Z + "    return p[:, None] * (np.eye(p.size) - p[:, None])\n"), J="p_i twice", **{"large logits": "p_i twice"}),
    wrong("softmax_jacobian", "p_j (delta_ij - p_j)", _jacobian(
        P_OF_Z + "    return p[None, :] * (np.eye(p.size) - p[None, :])\n"), J="p_j twice", **{"large logits": "p_j twice"}),
    wrong("softmax_jacobian", "logits for probabilities", _jacobian("    return np.diag(z) - np.outer(z, z)\n"),
          J="uses the logits z", **{"large logits": "uses the logits z"}),
    wrong("softmax_jacobian", "Jacobian of log_softmax", _jacobian(P_OF_Z + "    return np.eye(p.size) - p[None, :]\n"),
          J="log_softmax", **{"large logits": "log_softmax"}),
    wrong("softmax_jacobian", "softmax of z as a column", STABLE + _jacobian(
        "    p = softmax(z.reshape(-1, 1)).ravel()\n    return np.diag(p) - np.outer(p, p)\n"),
          J="axis of length 1", **{"large logits": "axis of length 1"}),
    wrong("softmax_jacobian", "diagonal p_i^2 twice", _jacobian(
        P_OF_Z + "    return np.diag(p - p**2) - np.outer(p, p)\n"), J="twice on the diagonal", **{"large logits": "twice on the diagonal"}),
    wrong("softmax_jacobian", "no max shift", _jacobian(
        "    e = np.exp(z)\n    p = e / e.sum()\n    return np.diag(p) - np.outer(p, p)\n"),
          J=True, inputs=True, **{"large logits": "exp overflows"}),
    wrong("softmax_jacobian", "calls the reference",
          "from backprop import losses\ndef softmax_jacobian(z):\n    return losses.softmax_jacobian(z)\n",
          J="reference solution", **{"large logits": "reference solution"}),
]

VARIANTS: list[Variant] = [*SOFTMAX_VARIANTS, *LOG_SOFTMAX_VARIANTS, *CE_VARIANTS, *JACOBIAN_VARIANTS]
