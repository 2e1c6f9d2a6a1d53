"""`python -m backprop.bench`: the package's speed and memory, as ratios measured in one run.

Times are medians over interleaved repeats (A, B, A, B, ...) so a drift in the machine's speed
hits both sides alike; ratios are what to quote, not the absolute times.
"""
from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from backprop.checkpoint import checkpointed_backprop, optimal_segment
from backprop.losses import softmax_cross_entropy
from backprop.modules import Activation, Linear, Sequential, mlp


def interleaved_medians(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median wall time of each function, running them in turn `repeats` times after one warm-up."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def mnist_mlp_problem(batch: int = 256, seed: int = 0):
    """The 784-512-512-10 ReLU MLP, a batch of random inputs and labels, float64."""
    rng = np.random.default_rng(seed)
    net = mlp([784, 512, 512, 10], "relu", seed=seed)
    return net, rng.standard_normal((batch, 784)), rng.integers(0, 10, batch)


def forward_backward_ratio(repeats: int) -> tuple[float, float, float]:
    """(forward seconds, forward+backward seconds, their ratio) for the 784-512-512-10 MLP at batch 256."""
    net, X, y = mnist_mlp_problem()

    def forward():
        out, _ = net.forward(X)
        return softmax_cross_entropy(out, y)

    def forward_backward():
        out, caches = net.forward(X)
        _, dout = softmax_cross_entropy(out, y)
        return net.backward(dout, caches, input_grad=False)

    fwd, both = interleaved_medians([forward, forward_backward], repeats)
    return fwd, both, both / fwd


def training_step_vs_torch(repeats: int, lr: float = 0.01) -> tuple[float, float, float] | None:
    """(ours, PyTorch's, ratio) seconds per SGD step on the same float64 MLP, or None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    net, X, y = mnist_mlp_problem()
    linears = [layer for layer in net.layers if isinstance(layer, Linear)]
    torch_net = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10)
    ).double()
    with torch.no_grad():
        for ours, theirs in zip(linears, [m for m in torch_net if isinstance(m, torch.nn.Linear)]):
            theirs.weight.copy_(torch.from_numpy(ours.params["W"].T))
            theirs.bias.copy_(torch.from_numpy(ours.params["b"]))
    optimizer = torch.optim.SGD(torch_net.parameters(), lr=lr)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)

    def our_step():
        out, caches = net.forward(X)
        loss, dout = softmax_cross_entropy(out, y)
        _, grads = net.backward(dout, caches, input_grad=False)
        for name, grad in grads.items():
            net.params[name] -= lr * grad
        return loss

    def torch_step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(torch_net(X_t), y_t)
        loss.backward()
        optimizer.step()
        return loss.detach()

    # Same start, same step: the losses of the first step agree, so the two do the same work.
    ours_loss, theirs_loss = our_step(), float(torch_step())
    if abs(ours_loss - theirs_loss) > 1e-9 * abs(theirs_loss):
        raise AssertionError(f"the two networks disagree: loss {ours_loss} against PyTorch's {theirs_loss}")
    ours, theirs = interleaved_medians([our_step, torch_step], repeats)
    return ours, theirs, ours / theirs


def checkpoint_costs(L: int, batch: int = 256, width: int = 256, repeats: int = 3) -> dict[str, float]:
    """Plain against checkpointed backprop (k = sqrt L) on L layers of (Linear, tanh) pairs."""
    rng = np.random.default_rng(0)
    stack = []
    for _ in range(L // 2):
        stack += [Linear.init(rng, width, width, gain=1.0), Activation("tanh")]
    net = Sequential(stack)
    X, y = rng.standard_normal((batch, width)), rng.integers(0, width, batch)

    def loss_fn(out):
        return softmax_cross_entropy(out, y)

    k = optimal_segment(L)

    def traced_peak(segment):
        tracemalloc.start()
        result = checkpointed_backprop(net, X, loss_fn, segment=segment)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return result, peak

    plain, plain_traced = traced_peak(None)
    ckpt, ckpt_traced = traced_peak(k)
    plain_s, ckpt_s = interleaved_medians(
        [lambda: checkpointed_backprop(net, X, loss_fn), lambda: checkpointed_backprop(net, X, loss_fn, segment=k)],
        repeats,
    )
    return {
        "k": k,
        "plain_mb": plain.peak_activation_bytes / 2**20,
        "ckpt_mb": ckpt.peak_activation_bytes / 2**20,
        "traced_ratio": ckpt_traced / plain_traced,
        "time_ratio": ckpt_s / plain_s,
        "recomputed_per_layer": ckpt.recomputed_forwards / L,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed repeats of each side (default 20)")
    args = parser.parse_args(argv)

    print("MLP 784-512-512-10, batch 256, float64")
    fwd, both, ratio = forward_backward_ratio(args.repeats)
    print(f"  forward {fwd * 1e3:.1f} ms, forward+backward {both * 1e3:.1f} ms: ratio {ratio:.2f} (target <= 3.2)")
    versus = training_step_vs_torch(args.repeats)
    if versus is None:
        print("  PyTorch not installed: no comparison (pip install -e '.[bench]' to add it)")
    else:
        ours, theirs, ratio_t = versus
        print(f"  training step: ours {ours * 1e3:.1f} ms, PyTorch {theirs * 1e3:.1f} ms on the CPU: "
              f"ratio {ratio_t:.2f} (target <= 1.5)")

    print("\nCheckpointing every k = sqrt(L) layers against plain backprop (batch 256, width 256)")
    print("      L    k   kept activations (MB)   kept ratio   tracemalloc ratio   time ratio   extra forwards/layer")
    for L in (16, 64, 256):
        c = checkpoint_costs(L, repeats=max(3, args.repeats // 4))
        print(f"  {L:>5} {c['k']:>4}   {c['plain_mb']:>8.1f} -> {c['ckpt_mb']:>6.1f}   {c['ckpt_mb'] / c['plain_mb']:>10.3f}"
              f"   {c['traced_ratio']:>17.3f}   {c['time_ratio']:>10.2f}   {c['recomputed_per_layer']:>20.2f}")


if __name__ == "__main__":
    main()
