"""Chapter 5's gradient checker: correct variants written differently, and the mistakes it must name."""
from __future__ import annotations

from autograder.catalogue import Variant, right, wrong

NP = "import numpy as np\n"
NG = ("values", "any shape", "x restored", "inputs")


def _ng_loop(body: str) -> str:
    """numerical_gradient over np.ndindex with `body` computing grad[index] from x, f, h, index."""
    return NP + ("def numerical_gradient(f, x, h=1e-5):\n    grad = np.zeros(x.shape)\n"
                 "    for index in np.ndindex(x.shape):\n" + body)


RESTORE = ("        old = x[index]\n        x[index] = old + h\n        plus = f(x)\n        x[index] = old - h\n"
           "        minus = f(x)\n        x[index] = old\n")
NG_RIGHT = _ng_loop(RESTORE + "        grad[index] = (plus - minus) / (2 * h)\n    return grad\n")

NG_VARIANTS: list[Variant] = [
    right("numerical_gradient", "np.ndindex, restored in place", NG_RIGHT, *NG),
    right("numerical_gradient", "np.nditer with multi_index, try/finally", NP + (
        "def numerical_gradient(f, x, h=1e-5):\n    grad = np.zeros_like(x, dtype=float)\n"
        "    it = np.nditer(x, flags=['multi_index'])\n    while not it.finished:\n        i = it.multi_index\n"
        "        saved = x[i].copy()\n        try:\n            x[i] = saved + h\n            fp = f(x)\n"
        "            x[i] = saved - h\n            fm = f(x)\n        finally:\n            x[i] = saved\n"
        "        grad[i] = (fp - fm) / (2 * h)\n        it.iternext()\n    return grad\n"), *NG),
    right("numerical_gradient", "flat index over x.flat", NP + (
        "def numerical_gradient(f, x, h=1e-5):\n    grad = np.zeros(x.size)\n    for i in range(x.size):\n"
        "        old = x.flat[i]\n        x.flat[i] = old + h\n        fp = float(f(x))\n        x.flat[i] = old - h\n"
        "        fm = float(f(x))\n        x.flat[i] = old\n        grad[i] = (fp - fm) / (2 * h)\n"
        "    return grad.reshape(x.shape)\n"), *NG),
    right("numerical_gradient", "a fresh copy of x for every evaluation", NP + (
        "def numerical_gradient(f, x, h=1e-5):\n    grad = np.zeros(x.shape)\n    for index in np.ndindex(*x.shape):\n"
        "        up, down = x.copy(), x.copy()\n        up[index] += h\n        down[index] -= h\n"
        "        grad[index] = (f(up) - f(down)) / (2 * h)\n    return grad\n"), *NG),
    right("numerical_gradient", "a flat view, restored", NP + (
        "def numerical_gradient(f, x, h=1e-5):\n    flat = x.reshape(-1)\n    grad = np.empty(flat.shape)\n"
        "    for i in range(flat.size):\n        keep = flat[i]\n        flat[i] = keep + h\n        a = f(x)\n"
        "        flat[i] = keep - h\n        b = f(x)\n        flat[i] = keep\n        grad[i] = (a - b) / (2 * h)\n"
        "    return grad.reshape(x.shape)\n"), *NG),
    right("numerical_gradient", "one copy of x, restored from the original", NP + (
        "def numerical_gradient(f, x, h=1e-5):\n    work = np.array(x, dtype=float)\n    grad = np.zeros_like(work)\n"
        "    for index in np.ndindex(x.shape):\n        work[index] = x[index] + h\n        plus = f(work)\n"
        "        work[index] = x[index] - h\n        minus = f(work)\n        work[index] = x[index]\n"
        "        grad[index] = (plus - minus) / (2 * h)\n    return grad\n"), *NG),
    wrong("numerical_gradient", "one-sided difference", _ng_loop(
        "        old = x[index]\n        base = f(x)\n        x[index] = old + h\n        plus = f(x)\n"
        "        x[index] = old\n        grad[index] = (plus - base) / h\n    return grad\n"),
        values="one-sided", **{"any shape": "one-sided", "x restored": True, "inputs": True}),
    wrong("numerical_gradient", "backward one-sided difference", _ng_loop(
        "        old = x[index]\n        base = f(x)\n        x[index] = old - h\n        minus = f(x)\n"
        "        x[index] = old\n        grad[index] = (base - minus) / h\n    return grad\n"),
        values="one-sided", **{"any shape": "one-sided", "x restored": True, "inputs": True}),
    wrong("numerical_gradient", "x not restored", _ng_loop(
        "        x[index] += h\n        plus = f(x)\n        x[index] -= 2 * h\n        minus = f(x)\n"
        "        grad[index] = (plus - minus) / (2 * h)\n    return grad\n"),
        values=True, **{"any shape": True, "x restored": "does not put x[i] back"}),
    wrong("numerical_gradient", "x restored by arithmetic", _ng_loop(
        "        x[index] += h\n        plus = f(x)\n        x[index] -= 2 * h\n        minus = f(x)\n"
        "        x[index] += h\n        grad[index] = (plus - minus) / (2 * h)\n    return grad\n"),
        values=True, **{"any shape": True, "x restored": "by arithmetic"}),
    wrong("numerical_gradient", "h added to every entry at once", NP + (
        "def numerical_gradient(f, x, h=1e-5):\n    return np.full(x.shape, (f(x + h) - f(x - h)) / (2 * h))\n"),
        values="every entry of x at once", **{"any shape": "every entry of x at once",
                                              "x restored": "every entry of x at once", "inputs": True}),
    wrong("numerical_gradient", "h added to every entry, one number", NP + (
        "def numerical_gradient(f, x, h=1e-5):\n    return (f(x + h) - f(x - h)) / (2 * h)\n"),
        values="is one number", **{"any shape": "every entry of x at once", "x restored": "every entry of x at once"}),
    wrong("numerical_gradient", "divided by h", _ng_loop(RESTORE + "        grad[index] = (plus - minus) / h\n"
                                                         "    return grad\n"),
          values="divides by h", **{"any shape": "divides by h", "x restored": True, "inputs": True}),
    wrong("numerical_gradient", "divided by 2 * h without brackets", _ng_loop(
        RESTORE + "        grad[index] = (plus - minus) / 2 * h\n    return grad\n"),
        values="(2 * h)", **{"any shape": "(2 * h)", "x restored": True, "inputs": True}),
    wrong("numerical_gradient", "minus before plus", _ng_loop(RESTORE + "        grad[index] = (minus - plus) / (2 * h)\n"
                                                              "    return grad\n"),
          values="wrong way round", **{"any shape": "wrong way round", "x restored": True, "inputs": True}),
    wrong("numerical_gradient", "its own step, h ignored", _ng_loop(
        "        h = 1e-5\n" + RESTORE + "        grad[index] = (plus - minus) / (2 * h)\n    return grad\n"),
        values="ignores the h", **{"any shape": True, "x restored": True, "inputs": True}),
    wrong("numerical_gradient", "two nested loops: 2-D x only", NP + (
        "def numerical_gradient(f, x, h=1e-5):\n    grad = np.zeros(x.shape)\n    for i in range(x.shape[0]):\n"
        "        for j in range(x.shape[1]):\n            old = x[i, j]\n            x[i, j] = old + h\n"
        "            plus = f(x)\n            x[i, j] = old - h\n            minus = f(x)\n            x[i, j] = old\n"
        "            grad[i, j] = (plus - minus) / (2 * h)\n    return grad\n"),
        values=True, **{"any shape": "np.ndindex", "x restored": True, "inputs": True}),
    wrong("numerical_gradient", "f called with a flattened copy", NP + (
        "def numerical_gradient(f, x, h=1e-5):\n    flat = x.ravel().copy()\n    grad = np.zeros(flat.size)\n"
        "    for i in range(flat.size):\n        old = flat[i]\n        flat[i] = old + h\n        plus = f(flat)\n"
        "        flat[i] = old - h\n        minus = f(flat)\n        flat[i] = old\n"
        "        grad[i] = (plus - minus) / (2 * h)\n    return grad.reshape(x.shape)\n"),
        values="raised", **{"any shape": "raised", "x restored": "calls f with an array of shape"}),
    wrong("numerical_gradient", "a float32 copy of x", NP + (
        "def numerical_gradient(f, x, h=1e-5):\n    work = x.astype(np.float32)\n    grad = np.zeros(x.shape)\n"
        "    for index in np.ndindex(x.shape):\n        old = work[index]\n        work[index] = old + h\n"
        "        plus = f(work)\n        work[index] = old - h\n        minus = f(work)\n        work[index] = old\n"
        "        grad[index] = (plus - minus) / (2 * h)\n    return grad\n"),
        **{"x restored": "float32"}),  # its values are off by float32 round-off, by no fixed pattern
    wrong("numerical_gradient", "hard-coded zeros", NP + "def numerical_gradient(f, x, h=1e-5):\n"
          "    return np.zeros(x.shape)\n", values="all zeros", **{"any shape": "all zeros", "x restored": "never calls f"}),
    wrong("numerical_gradient", "calls the reference", "from backprop.gradcheck import numerical_gradient as ng\n"
          "def numerical_gradient(f, x, h=1e-5):\n    return ng(f, x, h)\n",
          values="reference solution", **{"any shape": "reference solution", "x restored": "reference solution"}),
]

RE = ("values", "small gradients", "both zero", "inputs")


def _re(body: str) -> str:
    return NP + "def relative_error(a, b):\n" + body


RE_VARIANTS: list[Variant] = [
    right("relative_error", "np.linalg.norm with a guard", _re(
        "    scale = np.linalg.norm(a) + np.linalg.norm(b)\n    if scale == 0:\n        return 0.0\n"
        "    return float(np.linalg.norm(a - b) / scale)\n"), *RE),
    right("relative_error", "square roots of sums of squares", _re(
        "    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)\n    num = np.sqrt(np.sum((a - b) ** 2))\n"
        "    den = np.sqrt(np.sum(a * a)) + np.sqrt(np.sum(b * b))\n    return 0.0 if den == 0 else num / den\n"), *RE),
    right("relative_error", "flattened dot products, math.sqrt", "import math\n" + _re(
        "    d = (a - b).ravel()\n    den = math.sqrt(a.ravel() @ a.ravel()) + math.sqrt(b.ravel() @ b.ravel())\n"
        "    if den > 0:\n        return math.sqrt(d @ d) / den\n    return 0.0\n"), *RE),
    right("relative_error", "np.divide with where", _re(
        "    num = np.linalg.norm(a - b)\n    den = np.linalg.norm(a) + np.linalg.norm(b)\n"
        "    return float(np.divide(num, den, out=np.zeros(()), where=den > 0))\n"), *RE),
    wrong("relative_error", "no guard: 0 / 0", _re(
        "    return np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b))\n"),
        values=True, **{"small gradients": True, "both zero": "divides 0 by 0", "inputs": True}),
    wrong("relative_error", "a guard that never fires (ZeroDivisionError)", _re(
        "    try:\n        return np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b))\n"
        "    except ZeroDivisionError:\n        return 0.0\n"),
        values=True, **{"small gradients": True, "both zero": "divides 0 by 0", "inputs": True}),
    wrong("relative_error", "1e-8 added to the denominator", _re(
        "    return np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b) + 1e-8)\n"),
        values=True, **{"small gradients": "adds about 1e-08", "both zero": True, "inputs": True}),
    right("relative_error", "a negligible 1e-12 added to the denominator", _re(
        "    return np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b) + 1e-12)\n"), *RE),
    wrong("relative_error", "absolute error", _re("    return float(np.linalg.norm(a - b))\n"),
          values="absolute error", **{"small gradients": "absolute error", "both zero": True, "inputs": True}),
    wrong("relative_error", "norms row by row", _re(
        "    n = np.linalg.norm(a - b, axis=-1)\n    d = np.linalg.norm(a, axis=-1) + np.linalg.norm(b, axis=-1)\n"
        "    return np.where(d > 0, n / np.where(d > 0, d, 1), 0.0)\n"),
        values="row by row", **{"small gradients": "should be one number"}),
    wrong("relative_error", "largest row error", _re(
        "    n = np.linalg.norm(a - b, axis=-1)\n    d = np.linalg.norm(a, axis=-1) + np.linalg.norm(b, axis=-1)\n"
        "    d = np.where(d > 0, d, 1)\n    return float(np.max(n / d))\n"),
        values="keeps the largest", **{"small gradients": "keeps the largest", "both zero": True}),
    wrong("relative_error", "max norm", _re(
        "    den = np.max(np.abs(a)) + np.max(np.abs(b))\n    return 0.0 if den == 0 else np.max(np.abs(a - b)) / den\n"),
        values="max norm", **{"small gradients": "max norm", "both zero": True}),
    wrong("relative_error", "divided by ||a|| only", _re(
        "    na = np.linalg.norm(a)\n    return 0.0 if na == 0 else np.linalg.norm(a - b) / na\n"),
        values="||a|| only", **{"small gradients": "||a|| only", "both zero": True}),
    wrong("relative_error", "squared norms", _re(
        "    den = np.sum(a**2) + np.sum(b**2)\n    return 0.0 if den == 0 else np.sum((a - b) ** 2) / den\n"),
        values="squares the norms", **{"small gradients": "squares the norms", "both zero": True}),
    wrong("relative_error", "hard-coded 0", _re("    return 0.0\n"),
          values="returns 0 whatever", **{"small gradients": "returns 0 whatever", "both zero": True}),
    wrong("relative_error", "calls the reference", "from backprop import gradcheck\n" + _re(
        "    return gradcheck.relative_error(a, b)\n"),
        values="reference solution", **{"small gradients": "reference solution", "both zero": "reference solution"}),
]

GCP = ("right gradients pass", "wrong gradients flagged", "inputs")


def _gc(body: str) -> str:
    return NP + "def gradient_check(loss_fn, params, grads, h=1e-5):\n" + body


GC_VARIANTS: list[Variant] = [
    right("gradient_check", "numerical_gradient on params in place", _gc(
        "    return {k: relative_error(grads[k], numerical_gradient(lambda _: loss_fn(params), params[k], h))\n"
        "            for k in params}\n"), *GCP),
    right("gradient_check", "a copied dict, one key replaced", _gc(
        "    errors = {}\n    for name, value in params.items():\n"
        "        num = numerical_gradient(lambda w: loss_fn({**params, name: w}), value.copy(), h)\n"
        "        errors[name] = relative_error(grads[name], num)\n    return errors\n"), *GCP),
    right("gradient_check", "its own loop over a copied dict", _gc(
        "    out = {}\n    for k in sorted(params):\n        work = {n: v.copy() for n, v in params.items()}\n"
        "        num = np.zeros(params[k].shape)\n        for i in np.ndindex(params[k].shape):\n"
        "            work[k][i] = params[k][i] + h\n            up = loss_fn(work)\n"
        "            work[k][i] = params[k][i] - h\n            down = loss_fn(work)\n"
        "            work[k][i] = params[k][i]\n            num[i] = (up - down) / (2 * h)\n"
        "        g = grads[k]\n        out[k] = np.linalg.norm(g - num) / (np.linalg.norm(g) + np.linalg.norm(num))\n"
        "    return out\n"), *GCP),
    wrong("gradient_check", "nudges a copy that loss_fn never reads", _gc(
        "    work = {k: v.copy() for k, v in params.items()}\n"
        "    return {k: relative_error(grads[k], numerical_gradient(lambda _: loss_fn(params), work[k], h))\n"
        "            for k in params}\n"),
        **{"right gradients pass": "loss_fn never saw the nudges", "wrong gradients flagged": "loss_fn never saw",
           "inputs": True}),
    wrong("gradient_check", "compared with the wrong sign", _gc(
        "    return {k: relative_error(grads[k], -numerical_gradient(lambda _: loss_fn(params), params[k], h))\n"
        "            for k in params}\n"),
        **{"right gradients pass": "opposite sign", "wrong gradients flagged": "negative"}),
    wrong("gradient_check", "absolute error", _gc(
        "    return {k: np.linalg.norm(grads[k] - numerical_gradient(lambda _: loss_fn(params), params[k], h))\n"
        "            for k in params}\n"),
        **{"right gradients pass": True, "wrong gradients flagged": "absolute error", "inputs": True}),
    wrong("gradient_check", "only the first key", _gc(
        "    k = next(iter(params))\n"
        "    return {k: relative_error(grads[k], numerical_gradient(lambda _: loss_fn(params), params[k], h))}\n"),
        **{"right gradients pass": "only the first key", "wrong gradients flagged": "only the first key"}),
    wrong("gradient_check", "gradients paired by position", _gc(
        "    errors = {}\n    for (k, p), g in zip(params.items(), grads.values()):\n"
        "        errors[k] = relative_error(g, numerical_gradient(lambda _: loss_fn(params), p, h))\n"
        "    return errors\n"),
        **{"right gradients pass": "grads[name]", "wrong gradients flagged": True, "inputs": True}),
    wrong("gradient_check", "one-sided differences", _gc(
        "    out = {}\n    base = loss_fn(params)\n    for k, p in params.items():\n        num = np.zeros(p.shape)\n"
        "        for i in np.ndindex(p.shape):\n            old = p[i]\n            p[i] = old + h\n"
        "            num[i] = (loss_fn(params) - base) / h\n            p[i] = old\n"
        "        out[k] = relative_error(grads[k], num)\n    return out\n"),
        **{"right gradients pass": "one-sided", "wrong gradients flagged": "one-sided", "inputs": True}),
    wrong("gradient_check", "divided by h", _gc(
        "    out = {}\n    for k, p in params.items():\n        num = np.zeros(p.shape)\n"
        "        for i in np.ndindex(p.shape):\n            old = p[i]\n            p[i] = old + h\n"
        "            up = loss_fn(params)\n            p[i] = old - h\n            down = loss_fn(params)\n"
        "            p[i] = old\n            num[i] = (up - down) / h\n"
        "        out[k] = relative_error(grads[k], num)\n    return out\n"),
        **{"right gradients pass": "divides the difference by h", "wrong gradients flagged": "by h", "inputs": True}),
    wrong("gradient_check", "returns the numerical gradients", _gc(
        "    return {k: numerical_gradient(lambda _: loss_fn(params), params[k], h) for k in params}\n"),
        **{"right gradients pass": "one number per key", "wrong gradients flagged": "one number per key"}),
    wrong("gradient_check", "hard-coded zeros", _gc("    return {k: 0.0 for k in params}\n"),
          **{"right gradients pass": True, "wrong gradients flagged": "hard-coded", "inputs": True}),
    wrong("gradient_check", "calls the reference", "from backprop.gradcheck import gradient_check as ref_check\n" + _gc(
        "    return ref_check(loss_fn, params, grads, h)\n"),
        **{"right gradients pass": "reference solution", "wrong gradients flagged": "reference solution"}),
]

DCP = ("right gradients pass", "wrong gradients flagged", "direction (unit, from the seed)", "inputs")
DC_RIGHT = NP + ("def directional_check(f, x, grad, seed=0, h=1e-5):\n"
                 "    d = np.random.default_rng(seed).standard_normal(x.shape)\n    d = d / np.linalg.norm(d)\n"
                 "    numeric = (f(x + h * d) - f(x - h * d)) / (2 * h)\n"
                 "    return relative_error(np.sum(d * grad), numeric)\n")


def _dc(direction: str, rest: str = "    numeric = (f(x + h * d) - f(x - h * d)) / (2 * h)\n"
                                    "    return relative_error(np.sum(d * grad), numeric)\n") -> str:
    return NP + "def directional_check(f, x, grad, seed=0, h=1e-5):\n" + direction + rest


UNIT = "    d = np.random.default_rng(seed).standard_normal(x.shape)\n    d = d / np.linalg.norm(d)\n"

DC_VARIANTS: list[Variant] = [
    right("directional_check", "default_rng, np.sum(d * grad)", DC_RIGHT, *DCP),
    right("directional_check", "rng.normal, flat vectors, own formula", _dc(
        "    rng = np.random.default_rng(seed)\n    d = rng.normal(size=x.size)\n    d /= np.sqrt(d @ d)\n"
        "    d = d.reshape(x.shape)\n",
        "    a = float(d.ravel() @ grad.ravel())\n    b = (f(x + h * d) - f(x - h * d)) / (2 * h)\n"
        "    den = abs(a) + abs(b)\n    return 0.0 if den == 0 else abs(a - b) / den\n"), *DCP),
    right("directional_check", "the package's random_unit_direction, np.vdot", "from backprop.gradcheck import "
          "random_unit_direction\n" + _dc("    d = random_unit_direction(x.shape, seed)\n",
                                          "    slope = (f(x + h * d) - f(x - h * d)) / (2 * h)\n"
                                          "    return relative_error(np.vdot(d, grad), slope)\n"), *DCP),
    wrong("directional_check", "direction not unit length", _dc(
        "    d = np.random.default_rng(seed).standard_normal(x.shape)\n"),
        **{"right gradients pass": True, "wrong gradients flagged": True,
           "direction (unit, from the seed)": "not unit length", "inputs": True}),
    wrong("directional_check", "seed ignored", _dc(
        "    d = np.random.default_rng(0).standard_normal(x.shape)\n    d = d / np.linalg.norm(d)\n"),
        **{"right gradients pass": True, "wrong gradients flagged": "ignores the seed",
           "direction (unit, from the seed)": "ignores the seed", "inputs": True}),
    wrong("directional_check", "legacy np.random.seed", _dc(
        "    np.random.seed(seed)\n    d = np.random.randn(*x.shape)\n    d = d / np.linalg.norm(d)\n"),
        **{"right gradients pass": True, "wrong gradients flagged": "legacy",
           "direction (unit, from the seed)": "legacy", "inputs": True}),
    wrong("directional_check", "seed + 1", _dc(
        "    d = np.random.default_rng(seed + 1).standard_normal(x.shape)\n    d = d / np.linalg.norm(d)\n"),
        **{"right gradients pass": True, "wrong gradients flagged": "draws with seed",
           "direction (unit, from the seed)": "draws with seed", "inputs": True}),
    wrong("directional_check", "uniform direction", _dc(
        "    d = np.random.default_rng(seed).uniform(-1, 1, x.shape)\n    d = d / np.linalg.norm(d)\n"),
        **{"right gradients pass": True, "wrong gradients flagged": "uniform",
           "direction (unit, from the seed)": "uniform", "inputs": True}),
    wrong("directional_check", "one-sided difference", _dc(UNIT, "    numeric = (f(x + h * d) - f(x)) / h\n"
                                                           "    return relative_error(np.sum(d * grad), numeric)\n"),
          **{"right gradients pass": "one-sided", "direction (unit, from the seed)": "one-sided", "inputs": True}),
    wrong("directional_check", "divided by h", _dc(UNIT, "    numeric = (f(x + h * d) - f(x - h * d)) / h\n"
                                                   "    return relative_error(np.sum(d * grad), numeric)\n"),
          **{"right gradients pass": "by h", "wrong gradients flagged": "by h",
             "direction (unit, from the seed)": "by h", "inputs": True}),
    wrong("directional_check", "compared with the wrong sign", _dc(
        UNIT, "    numeric = (f(x - h * d) - f(x + h * d)) / (2 * h)\n"
              "    return relative_error(np.sum(d * grad), numeric)\n"),
        **{"right gradients pass": "negative", "wrong gradients flagged": "negative",
           "direction (unit, from the seed)": "negative", "inputs": True}),
    wrong("directional_check", "absolute error", _dc(
        UNIT, "    numeric = (f(x + h * d) - f(x - h * d)) / (2 * h)\n    return abs(np.sum(d * grad) - numeric)\n"),
        **{"right gradients pass": True, "wrong gradients flagged": "absolute error", "inputs": True}),
    wrong("directional_check", "every entry moved by h", _dc(
        "", "    numeric = (f(x + h) - f(x - h)) / (2 * h)\n    return relative_error(np.sum(grad), numeric)\n"),
        **{"right gradients pass": True, "wrong gradients flagged": "all-ones direction", "inputs": True}),
    wrong("directional_check", "hard-coded 0", _dc("", "    return 0.0\n"),
          **{"right gradients pass": True, "wrong gradients flagged": "hard-coded",
             "direction (unit, from the seed)": "hard-coded", "inputs": True}),
    wrong("directional_check", "calls the reference", "from backprop import gradcheck\n" + _dc(
        "", "    return gradcheck.directional_check(f, x, grad, seed, h)\n"),
        **{"right gradients pass": "reference solution", "wrong gradients flagged": "reference solution",
           "direction (unit, from the seed)": "reference solution"}),
]

VARIANTS: list[Variant] = [*NG_VARIANTS, *RE_VARIANTS, *GC_VARIANTS, *DC_VARIANTS]
