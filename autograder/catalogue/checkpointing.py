"""Chapter 6's checkpointed_backward: correct variants written differently, and common mistakes."""
from __future__ import annotations

from autograder.catalogue import Variant, right, wrong

NAME = "checkpointed_backward"
ALL = ("dX", "parameter gradients", "memory", "recomputation", "inputs")
HEAD = "def checkpointed_backward(layers, X, dout, k):\n"


def _correct(**expect: bool | str) -> dict[str, bool | str]:
    return {**dict.fromkeys(ALL, True), **expect}


def _iterative(backward_range: str = "range(stop - 1, start - 1, -1)", starts: str = "range(0, L, k)",
               checkpoint: str = "checkpoints.append(x)", upstream: str = "g", last: str = "") -> str:
    """Keep each segment's input, then walk the segments backwards, recomputing each one's caches."""
    return HEAD + (
        "    L = len(layers)\n"
        f"    starts = list({starts})\n"
        "    checkpoints = []\n"
        "    x = X\n"
        "    for start in starts:\n"
        f"        {checkpoint}\n"
        "        for layer in layers[start:start + k]:\n"
        "            x, _ = layer.forward(x)\n"
        "    g = dout\n"
        "    grads = {}\n"
        "    for s in range(len(starts) - 1, -1, -1):\n"
        f"        start, stop = starts[s], min(starts[s] + k, L){last}\n"
        "        x = checkpoints[s]\n"
        "        caches = {}\n"
        "        for i in range(start, stop):\n"
        "            x, caches[i] = layers[i].forward(x)\n"
        "        del x\n"
        f"        g_in = {upstream}\n"
        f"        for i in {backward_range}:\n"
        "            g_in, layer_grads = layers[i].backward(g_in, caches.pop(i, None))\n"
        "            for name, value in layer_grads.items():\n"
        "                grads[f'{i}.{name}'] = value\n"
        "        g = g_in\n"
        "        checkpoints.pop()\n"
        "    return g, grads\n"
    )


ITERATIVE = _iterative()

RECURSIVE = HEAD + (
    "    L = len(layers)\n"
    "    grads = {}\n"
    "\n"
    "    def segment(start, x):\n"
    "        # Run this segment without keeping anything, the rest recursively, then this segment's backward.\n"
    "        stop = min(start + k, L)\n"
    "        if stop < L:\n"
    "            y = x\n"
    "            for layer in layers[start:stop]:\n"
    "                y = layer.forward(y)[0]\n"
    "            g = segment(stop, y)\n"
    "            del y\n"
    "        else:\n"
    "            g = dout\n"
    "        caches = []\n"
    "        for layer in layers[start:stop]:\n"
    "            x, cache = layer.forward(x)\n"
    "            caches.append(cache)\n"
    "        del x\n"
    "        for i in range(stop - 1, start - 1, -1):\n"
    "            g, layer_grads = layers[i].backward(g, caches.pop())\n"
    "            grads.update({f'{i}.{n}': v for n, v in layer_grads.items()})\n"
    "        return g\n"
    "\n"
    "    return segment(0, X), grads\n"
)

STACK = HEAD + (
    "    # An explicit stack of (start, checkpoint); the top segment keeps its caches from the forward pass.\n"
    "    L = len(layers)\n"
    "    stack = []\n"
    "    x = X\n"
    "    start = 0\n"
    "    while start + k < L:\n"
    "        stack.append((start, x))\n"
    "        for layer in layers[start:start + k]:\n"
    "            x = layer.forward(x)[0]\n"
    "        start += k\n"
    "    top = []\n"
    "    for layer in layers[start:]:\n"
    "        x, cache = layer.forward(x)\n"
    "        top.append(cache)\n"
    "    del x\n"
    "    grads = {}\n"
    "    g = dout\n"
    "    stop = L\n"
    "    caches = top\n"
    "    while True:\n"
    "        for i in range(stop - 1, start - 1, -1):\n"
    "            g, layer_grads = layers[i].backward(g, caches[i - start])\n"
    "            caches[i - start] = None\n"
    "            for name in layer_grads:\n"
    "                grads[str(i) + '.' + name] = layer_grads[name]\n"
    "        if not stack:\n"
    "            return g, grads\n"
    "        stop = start\n"
    "        start, x = stack.pop()\n"
    "        caches = []\n"
    "        for layer in layers[start:stop]:\n"
    "            x, cache = layer.forward(x)\n"
    "            caches.append(cache)\n"
    "        del x\n"
)

FROM_THE_END = HEAD + (
    "    # Segments of k counted down from the top: the first segment is the short one.\n"
    "    L = len(layers)\n"
    "    bounds = sorted({0, *range(L, 0, -k)})\n"
    "    checkpoints = []\n"
    "    x = X\n"
    "    for start, stop in zip(bounds[:-1], bounds[1:]):\n"
    "        checkpoints.append(x)\n"
    "        for layer in layers[start:stop]:\n"
    "            x = layer.forward(x)[0]\n"
    "    del x\n"
    "    grads = {}\n"
    "    g = dout\n"
    "    for start, stop in reversed(list(zip(bounds[:-1], bounds[1:]))):\n"
    "        x = checkpoints.pop()\n"
    "        caches = []\n"
    "        for layer in layers[start:stop]:\n"
    "            x, cache = layer.forward(x)\n"
    "            caches.append(cache)\n"
    "        del x\n"
    "        for i in reversed(range(start, stop)):\n"
    "            g, layer_grads = layers[i].backward(g, caches.pop())\n"
    "            grads.update((f'{i}.{n}', v) for n, v in layer_grads.items())\n"
    "    return g, grads\n"
)

WITH_SEQUENTIAL = "from backprop.modules import Sequential\n" + HEAD + (
    "    # The package's Sequential runs one segment at a time; its keys are renumbered to the whole stack's.\n"
    "    L = len(layers)\n"
    "    segments = [layers[s:s + k] for s in range(0, L, k)]\n"
    "    checkpoints = [X]\n"
    "    for seg in segments[:-1]:\n"
    "        checkpoints.append(Sequential(seg).forward(checkpoints[-1])[0])\n"
    "    grads = {}\n"
    "    g = dout\n"
    "    for s in range(len(segments) - 1, -1, -1):\n"
    "        net = Sequential(segments[s])\n"
    "        _, caches = net.forward(checkpoints.pop())\n"
    "        g, seg_grads = net.backward(g, caches)\n"
    "        del caches\n"
    "        for key, value in seg_grads.items():\n"
    "            index, name = key.split('.')\n"
    "            grads[f'{s * k + int(index)}.{name}'] = value\n"
    "    return g, grads\n"
)

PLAIN = HEAD + (
    "    caches = []\n"
    "    x = X\n"
    "    for layer in layers:\n"
    "        x, cache = layer.forward(x)\n"
    "        caches.append(cache)\n"
    "    grads = {}\n"
    "    for i in range(len(layers) - 1, -1, -1):\n"
    "        dout, layer_grads = layers[i].backward(dout, caches[i])\n"
    "        grads.update({f'{i}.{n}': v for n, v in layer_grads.items()})\n"
    "    return dout, grads\n"
)

# Plain backprop that also runs one forward pass it throws away: the recomputation count looks right, the memory not.
PLAIN_WITH_A_SPARE_FORWARD = PLAIN.replace("    grads = {}\n", "    y = X\n    for layer in layers:\n"
                                           "        y = layer.forward(y)[0]\n    grads = {}\n", 1)

FROM_INPUT = HEAD + (
    "    # No checkpoints at all: every layer's cache recomputed from X when its backward needs it.\n"
    "    grads = {}\n"
    "    for i in range(len(layers) - 1, -1, -1):\n"
    "        x = X\n"
    "        for layer in layers[:i]:\n"
    "            x = layer.forward(x)[0]\n"
    "        _, cache = layers[i].forward(x)\n"
    "        dout, layer_grads = layers[i].backward(dout, cache)\n"
    "        grads.update({f'{i}.{n}': v for n, v in layer_grads.items()})\n"
    "    return dout, grads\n"
)

PER_LAYER_FROM_CHECKPOINT = HEAD + (
    "    # Each layer's cache recomputed from its segment's checkpoint: L k / 2 forwards.\n"
    "    L = len(layers)\n"
    "    checkpoints = {}\n"
    "    x = X\n"
    "    for i, layer in enumerate(layers):\n"
    "        if i % k == 0:\n"
    "            checkpoints[i] = x\n"
    "        x = layer.forward(x)[0]\n"
    "    grads = {}\n"
    "    for i in range(L - 1, -1, -1):\n"
    "        start = i - i % k\n"
    "        x = checkpoints[start]\n"
    "        for layer in layers[start:i]:\n"
    "            x = layer.forward(x)[0]\n"
    "        _, cache = layers[i].forward(x)\n"
    "        dout, layer_grads = layers[i].backward(dout, cache)\n"
    "        grads.update({f'{i}.{n}': v for n, v in layer_grads.items()})\n"
    "    return dout, grads\n"
)

KEEPS_RECOMPUTED = ITERATIVE.replace("        caches = {}\n", "        caches = all_caches\n").replace(
    "    grads = {}\n", "    grads = {}\n    all_caches = {}\n", 1).replace("caches.pop(i, None)", "caches[i]")

CHECKPOINT_EVERY_LAYER = ITERATIVE.replace(
    "        for layer in layers[start:start + k]:\n            x, _ = layer.forward(x)\n",
    "        for layer in layers[start:start + k]:\n            x, _ = layer.forward(x)\n            kept.append(x)\n").replace(
    "    checkpoints = []\n", "    checkpoints = []\n    kept = []\n")

LAST_SEGMENT_TWICE = HEAD + (
    "    # Keeps the top segment's caches from the forward pass, then recomputes every segment, the top one too.\n"
    "    L = len(layers)\n"
    "    starts = list(range(0, L, k))\n"
    "    checkpoints = []\n"
    "    x = X\n"
    "    for start in starts[:-1]:\n"
    "        checkpoints.append(x)\n"
    "        for layer in layers[start:start + k]:\n"
    "            x = layer.forward(x)[0]\n"
    "    checkpoints.append(x)\n"
    "    top = []\n"
    "    for layer in layers[starts[-1]:]:\n"
    "        x, cache = layer.forward(x)\n"
    "        top.append(cache)\n"
    "    grads = {}\n"
    "    g = dout\n"
    "    for i in range(L - 1, starts[-1] - 1, -1):\n"
    "        g, layer_grads = layers[i].backward(g, top[i - starts[-1]])\n"
    "        for n, v in layer_grads.items():\n"
    "            grads[f'{i}.{n}'] = grads.get(f'{i}.{n}', 0) + v\n"
    "    for s in range(len(starts) - 1, -1, -1):\n"
    "        start, stop = starts[s], min(starts[s] + k, L)\n"
    "        x = checkpoints[s]\n"
    "        caches = []\n"
    "        for layer in layers[start:stop]:\n"
    "            x, cache = layer.forward(x)\n"
    "            caches.append(cache)\n"
    "        for i in range(stop - 1, start - 1, -1):\n"
    "            g, layer_grads = layers[i].backward(g, caches[i - start])\n"
    "            for n, v in layer_grads.items():\n"
    "                grads[f'{i}.{n}'] = grads.get(f'{i}.{n}', 0) + v\n"
    "    return g, grads\n"
)

DOUBLE_ACCUMULATE = ITERATIVE.replace(
    "    grads = {}\n", "    grads = {}\n    seg_grads = {}\n", 1).replace(
    "                grads[f'{i}.{name}'] = value\n", "                seg_grads[f'{i}.{name}'] = value\n").replace(
    "        g = g_in\n",
    "        g = g_in\n        for key, value in seg_grads.items():  # seg_grads is never reset\n"
    "            grads[key] = grads.get(key, 0) + value\n")

SEGMENTS_DROPPED = _iterative(starts="range(0, (L // k) * k, k)")

INTERIOR_CHECKPOINTS = HEAD + (
    "    # Checkpoints at the interior boundaries k, 2k, ...; the top segment keeps its caches.\n"
    "    L = len(layers)\n"
    "    bounds = list(range(k, L, k))\n"
    "    top = bounds[-1]\n"
    "    saved = {0: X}\n"
    "    top_caches = []\n"
    "    x = X\n"
    "    for i, layer in enumerate(layers):\n"
    "        if i in bounds:\n"
    "            saved[i] = x\n"
    "        if i >= top:\n"
    "            x, cache = layer.forward(x)\n"
    "            top_caches.append(cache)\n"
    "        else:\n"
    "            x = layer.forward(x)[0]\n"
    "    grads = {}\n"
    "    g = dout\n"
    "    for i in range(L - 1, top - 1, -1):\n"
    "        g, layer_grads = layers[i].backward(g, top_caches[i - top])\n"
    "        grads.update({f'{i}.{n}': v for n, v in layer_grads.items()})\n"
    "    del top_caches\n"
    "    stop = top\n"
    "    for start in list(reversed(bounds[:-1])) + [0]:\n"
    "        caches = []\n"
    "        x = saved.pop(start)\n"
    "        for layer in layers[start:stop]:\n"
    "            x, cache = layer.forward(x)\n"
    "            caches.append(cache)\n"
    "        for i in range(stop - 1, start - 1, -1):\n"
    "            g, layer_grads = layers[i].backward(g, caches[i - start])\n"
    "            grads.update({f'{i}.{n}': v for n, v in layer_grads.items()})\n"
    "        stop = start\n"
    "    return g, grads\n"
)

GLOBAL_KEEP = "KEPT = []  # for debugging\n" + ITERATIVE.replace(
    "            x, _ = layer.forward(x)\n", "            x, _ = layer.forward(x)\n            KEPT.append(x)\n")

COPIES = ITERATIVE.replace(
    "            x, _ = layer.forward(x)\n", "            x, _ = layer.forward(x)\n            history.append(x.copy())\n").replace(
    "    checkpoints = []\n", "    checkpoints = []\n    history = []\n")

VARIANTS: list[Variant] = [
    right(NAME, "iterative, every segment recomputed", ITERATIVE, *ALL),
    right(NAME, "recursive over segments", RECURSIVE, *ALL),
    right(NAME, "explicit stack, top segment kept from the forward", STACK, *ALL),
    right(NAME, "segments aligned at the top (short first segment)", FROM_THE_END, *ALL),
    right(NAME, "the package's Sequential per segment", WITH_SEQUENTIAL, *ALL),
    wrong(NAME, "plain backprop, k ignored", PLAIN, **_correct(memory="as much as plain backprop",
                                                             recomputation="recomputes nothing")),
    wrong(NAME, "plain backprop with a spare forward pass", PLAIN_WITH_A_SPARE_FORWARD,
          **_correct(memory="as much as plain backprop")),
    wrong(NAME, "recomputes from the input for every layer", FROM_INPUT,
          **_correct(recomputation="from the input for every layer")),
    wrong(NAME, "recomputes the segment for each of its layers", PER_LAYER_FROM_CHECKPOINT,
          **_correct(recomputation="more than one extra forward")),
    wrong(NAME, "keeps the recomputed caches of finished segments", KEEPS_RECOMPUTED,
          **_correct(memory="as much as plain backprop")),
    wrong(NAME, "a checkpoint after every layer", CHECKPOINT_EVERY_LAYER,
          **_correct(memory="as much as plain backprop")),
    wrong(NAME, "keeps every activation in a global list", GLOBAL_KEEP, **_correct(memory="as much as plain backprop")),
    wrong(NAME, "keeps a copy of every activation", COPIES, **_correct(memory="as much as plain backprop")),
    wrong(NAME, "backward skips each segment's first layer",
          _iterative(backward_range="range(stop - 1, start, -1)"),
          dX="never ran backward", **{"parameter gradients": "never ran backward", "memory": "never ran backward",
                                      "recomputation": "never ran backward"}),
    wrong(NAME, "segments overlap by one layer",
          _iterative(backward_range="range(min(stop, L - 1), start - 1, -1)"),
          dX="ran backward 2 times", **{"parameter gradients": "ran backward 2 times", "memory": "ran backward 2 times",
                                        "recomputation": "ran backward 2 times"}),
    wrong(NAME, "top segment run backward twice", LAST_SEGMENT_TWICE,
          dX="accumulated twice", **{"parameter gradients": "accumulated twice"}),
    wrong(NAME, "a segment's gradients dict never reset", DOUBLE_ACCUMULATE,
          **_correct(**{"parameter gradients": "accumulated more than once"})),
    wrong(NAME, "every segment starts from the stack's dout", _iterative(upstream="dout"),
          dX="dout given to the whole stack", **{"parameter gradients": "dout given to the whole stack"}),
    wrong(NAME, "recomputes from the previous segment's checkpoint",
          _iterative().replace("        x = checkpoints[s]\n", "        x = checkpoints[s - 1] if s > 0 else X\n"),
          dX="wrong checkpoint", **{"parameter gradients": "wrong checkpoint"}),
    wrong(NAME, "float32 checkpoints", _iterative(checkpoint="checkpoints.append(x.astype('float32'))"),
          dX="lower precision", **{"parameter gradients": "lower precision"}),
    wrong(NAME, "drops the last L mod k layers", SEGMENTS_DROPPED,
          dX="the last L mod k", **{"parameter gradients": "the last L mod k"}),
    wrong(NAME, "fails when k = L (no interior checkpoint)", INTERIOR_CHECKPOINTS,
          dX="IndexError", **{"parameter gradients": "IndexError", "memory": True, "recomputation": "IndexError"}),
    wrong(NAME, "input_grad=False for the first layer, as Sequential does",
          _iterative().replace("layers[i].backward(g_in, caches.pop(i, None))",
                               "layers[i].backward(g_in, caches.pop(i, None), input_grad=i > 0)"),
          **_correct(dX="input_grad=False")),
    wrong(NAME, "grads keyed W1, b1, ... by Linear layer", _iterative().replace(
        "                grads[f'{i}.{name}'] = value\n",
        "                grads[f'{name}{sum(bool(l.params) for l in layers[:i + 1])}'] = value\n"),
          **_correct(**{"parameter gradients": "has no gradient for"})),
    wrong(NAME, "grads as a list of per-layer dicts", _iterative().replace(
        "    return g, grads\n", "    return g, [{n: grads[f'{i}.{n}'] for n in layers[i].params} for i in range(L)]\n"),
          dX="should be a dict", **{"parameter gradients": "should be a dict", "memory": "should be a dict",
                                    "recomputation": "should be a dict"}),
    wrong(NAME, "pops the caller's layer list", HEAD + (
        "    L = len(layers)\n"
        "    segments = []\n"
        "    while layers:\n"
        "        segments.append(layers[:k])\n"
        "        del layers[:k]\n"
        "    checkpoints, x = [], X\n"
        "    for seg in segments:\n"
        "        checkpoints.append(x)\n"
        "        for layer in seg:\n"
        "            x = layer.forward(x)[0]\n"
        "    grads = {}\n"
        "    g = dout\n"
        "    for s in range(len(segments) - 1, -1, -1):\n"
        "        x, caches = checkpoints.pop(), []\n"
        "        for layer in segments[s]:\n"
        "            x, cache = layer.forward(x)\n"
        "            caches.append(cache)\n"
        "        for j in range(len(segments[s]) - 1, -1, -1):\n"
        "            g, layer_grads = segments[s][j].backward(g, caches.pop())\n"
        "            grads.update({f'{s * k + j}.{n}': v for n, v in layer_grads.items()})\n"
        "    return g, grads\n"), **_correct(inputs="layers (the list itself")),
    wrong(NAME, "zeroes dout to free it", ITERATIVE.replace("    return g, grads\n",
                                                            "    dout[...] = 0.0\n    return g, grads\n"),
          **_correct(inputs="modified dout")),
    wrong(NAME, "calls the reference", "from backprop.checkpoint import checkpointed_backprop\n"
          "from backprop.modules import Sequential\n" + HEAD +
          "    result = checkpointed_backprop(Sequential(layers), X, lambda out: (0.0, dout), segment=k, input_grad=True)\n"
          "    return result.dX, result.grads\n",
          dX="reference solution", **{"parameter gradients": "reference solution", "memory": "reference solution",
                                      "recomputation": "reference solution"}),
    wrong(NAME, "not written", HEAD + "    raise NotImplementedError()\n",
          dX="not written yet", **{"parameter gradients": "not written yet", "memory": "not written yet",
                                   "recomputation": "not written yet"}),
]
