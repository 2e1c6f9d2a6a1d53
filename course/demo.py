"""`python -m backprop.demo`: what the reference package does, in a minute, with real numbers.

Checks every layer's backward against finite differences, trains a two-layer network on two
moons, and measures what checkpointing saves. Figures go to out/ (or the folder given).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from backprop import data, layers, losses, network, train
from backprop.checkpoint import checkpointed_backprop, optimal_segment
from backprop.gradcheck import numerical_gradient, numerical_vjp, relative_error
from backprop.modules import Activation, Linear, Sequential


def layer_errors(seed: int = 0) -> dict[str, float]:
    """Relative error of each backward against central differences, on a 4 x 5 -> 3 problem."""
    rng = np.random.default_rng(seed)
    X, W, b, dZ = (rng.standard_normal(s) for s in [(4, 5), (5, 3), (3,), (4, 3)])
    dX, dW, db = layers.linear_backward(dZ, layers.linear_forward(X, W, b)[1])
    errors = {
        "linear dX": relative_error(dX, numerical_vjp(lambda x: layers.linear_forward(x, W, b)[0], X.copy(), dZ)),
        "linear dW": relative_error(dW, numerical_vjp(lambda w: layers.linear_forward(X, w, b)[0], W.copy(), dZ)),
        "linear db": relative_error(db, numerical_vjp(lambda c: layers.linear_forward(X, W, c)[0], b.copy(), dZ)),
    }
    Z = rng.choice([-1.0, 1.0], (4, 3)) * (0.1 + np.abs(rng.standard_normal((4, 3))))
    for name, (forward, backward) in layers.ACTIVATIONS.items():
        errors[name] = relative_error(backward(dZ, forward(Z)[1]), numerical_vjp(lambda z: forward(z)[0], Z.copy(), dZ))
    y = rng.integers(0, 3, 4)
    errors["softmax cross-entropy"] = relative_error(
        losses.softmax_cross_entropy(Z, y)[1], numerical_gradient(lambda z: losses.softmax_cross_entropy(z, y)[0], Z.copy())
    )
    return errors


def checkpoint_table(depths=(16, 64, 256), batch: int = 256, width: int = 64) -> list[tuple[int, int, float, int]]:
    """For each depth L: (L, k, peak activation memory as a fraction of plain backprop's, recomputed forwards)."""
    rows = []
    rng = np.random.default_rng(0)
    for L in depths:
        stack = []
        for _ in range(L // 2):
            stack += [Linear.init(rng, width, width, gain=1.0), Activation("tanh")]
        net = Sequential(stack)
        X, y = rng.standard_normal((batch, width)), rng.integers(0, width, batch)
        loss_fn = lambda out: losses.softmax_cross_entropy(out, y)  # noqa: E731
        plain = checkpointed_backprop(net, X, loss_fn)
        k = optimal_segment(L)
        ckpt = checkpointed_backprop(net, X, loss_fn, segment=k)
        rows.append((L, k, ckpt.peak_activation_bytes / plain.peak_activation_bytes, ckpt.recomputed_forwards))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the figures (default: out)")
    args = parser.parse_args(argv)

    print("1. Every backward against central finite differences (relative error; below 1e-7 is right):")
    for name, error in layer_errors().items():
        print(f"   {name:<22} {error:.1e}")

    print("\n2. A two-layer ReLU network (2-32-1) learns two moons by full-batch gradient descent:")
    X, y = data.two_moons(400, noise=0.1, seed=0)
    X_test, y_test = data.two_moons(400, noise=0.1, seed=1)
    result = train.sgd(network.two_layer_loss, network.init_params([2, 32, 1], seed=0), X, y, lr=0.5, epochs=400)
    print(f"   loss {result.losses[0]:.3f} -> {result.losses[-1]:.4f} in {len(result.losses)} epochs; "
          f"accuracy {network.accuracy(result.params, X, y):.1%} on training data, "
          f"{network.accuracy(result.params, X_test, y_test):.1%} on 400 new points")

    print("\n3. Checkpointing every k = sqrt(L) layers (batch 256, width 64):")
    print("   layers L   k   peak activations vs plain   extra layer forwards")
    for L, k, fraction, recomputed in checkpoint_table():
        print(f"   {L:>8} {k:>3}   {fraction:>24.1%}   {recomputed:>6} ({recomputed / L:.2f} per layer)")

    import matplotlib

    matplotlib.use("Agg")
    from backprop.plots import plot_decision_boundary, plot_losses

    args.out.mkdir(parents=True, exist_ok=True)
    ax = plot_decision_boundary(lambda P: network.predict(result.params, P), X_test, y_test)
    ax.set_title("two moons: decision boundary on new points")
    ax.figure.savefig(args.out / "two_moons_boundary.png", dpi=100, bbox_inches="tight")
    ax = plot_losses(result.losses)
    ax.figure.savefig(args.out / "two_moons_loss.png", dpi=100, bbox_inches="tight")
    print(f"\nFigures: {args.out / 'two_moons_boundary.png'}, {args.out / 'two_moons_loss.png'}")


if __name__ == "__main__":
    main()
