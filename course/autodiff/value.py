"""A scalar that remembers how it was computed, so it can be differentiated.

Reverse-mode automatic differentiation runs a computation forward once, keeping
every intermediate result as a node of a graph, then walks that graph backward
from the output. Each node passes ``d(output)/d(node)`` to its inputs using only
its *local* derivative (the chain rule), so one backward sweep gives the
derivative of the output with respect to every node, whatever their number.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = ["Value", "backward_steps", "topological_order"]


def _noop() -> None:
    """Backward step of a leaf: it has no inputs to pass a gradient to."""


def _as_float(data: Any) -> float:
    """Python float from an int, float, or NumPy scalar; reject anything else."""
    if isinstance(data, Value):
        raise TypeError("Value(...) got a Value; use the Value itself, not a copy of it")
    if getattr(data, "ndim", None) == 0 and hasattr(data, "item"):
        data = data.item()  # a 0-d NumPy array
    if not isinstance(data, numbers.Real):
        raise TypeError(f"Value data must be a real number, got {type(data).__name__}: {data!r}")
    return float(data)


class Value:
    """A scalar node of a computation graph, with the gradient backward() puts in it.

    Attributes:
        data: the number this node holds (always a Python float).
        grad: d(root)/d(this node) after ``root.backward()``; 0.0 before.
        label: an optional name, shown by ``draw_graph``.
        op: the operation that made this node ('' for an input/constant).
        _children: the Values this node was computed from.
        _backward: adds this node's gradient, times the local derivatives,
            to the ``grad`` of its children.

    Equality is identity (no ``__eq__``), so nodes can be kept in sets and dicts.
    """

    def __init__(
        self,
        data: float,
        label: str = "",
        *,
        children: Iterable[Value] = (),
        op: str = "",
    ) -> None:
        self.data: float = _as_float(data)
        self.grad: float = 0.0
        self.label: str = label
        self.op: str = op
        self._children: tuple[Value, ...] = tuple(children)
        self._backward: Callable[[], None] = _noop

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    # ---- binary operators -------------------------------------------------

    @staticmethod
    def _wrap(other: Any) -> Value:
        """Turn a plain number into a constant leaf so it can join the graph."""
        return other if isinstance(other, Value) else Value(other)

    def _binary(
        self,
        other: Any,
        result: Callable[[float, float], float],
        local: Callable[[float, float, float], tuple[float, float]],
        op: str,
    ) -> Value:
        """A node computed from self and other; `local(a, b, out)` gives (d(out)/d(self), d(out)/d(other))."""
        if not isinstance(other, (Value, numbers.Real)):
            return NotImplemented
        other = self._wrap(other)
        out = Value(result(self.data, other.data), children=(self, other), op=op)
        d_self, d_other = local(self.data, other.data, out.data)

        def _backward() -> None:
            # += on both: with x * x, self and other are one node and must get both terms.
            self.grad += d_self * out.grad
            other.grad += d_other * out.grad

        out._backward = _backward
        return out

    def __add__(self, other: Value | float) -> Value:
        """d(out)/d(self) = 1, d(out)/d(other) = 1."""
        return self._binary(other, lambda a, b: a + b, lambda a, b, out: (1.0, 1.0), "+")

    def __sub__(self, other: Value | float) -> Value:
        """d(out)/d(self) = 1, d(out)/d(other) = -1."""
        return self._binary(other, lambda a, b: a - b, lambda a, b, out: (1.0, -1.0), "-")

    def __mul__(self, other: Value | float) -> Value:
        """d(out)/d(self) = other, d(out)/d(other) = self."""
        return self._binary(other, lambda a, b: a * b, lambda a, b, out: (b, a), "*")

    def __truediv__(self, other: Value | float) -> Value:
        """d(out)/d(self) = 1/other, d(out)/d(other) = -self/other^2."""
        # -a/b^2 written as -(a/b)/b: one rounding fewer, and b^2 cannot overflow.
        return self._binary(other, lambda a, b: a / b, lambda a, b, out: (1.0 / b, -out / b), "/")

    def __pow__(self, exponent: float) -> Value:
        """d(out)/d(self) = n * self^(n-1), for a constant number n."""
        if isinstance(exponent, Value):
            raise TypeError(
                "Value ** Value is not supported: the exponent must be a plain int or float. "
                "For a variable exponent write (b * a.log()).exp()."
            )
        if not isinstance(exponent, numbers.Real):
            return NotImplemented
        n: int | float = int(exponent) if isinstance(exponent, numbers.Integral) else float(exponent)
        x = self.data
        if x < 0 and not float(n).is_integer():
            # Python would silently return a complex number here.
            raise ValueError(f"math domain error: negative base {x!r} ** non-integer exponent {n!r}")
        result = x**n
        if n == 0:
            local = 0.0
        elif x == 0 and n < 1:
            local = math.inf  # d/dx x^n blows up at 0 for 0 < n < 1
        else:
            local = n * x ** (n - 1)
        return self._unary(result, local, f"**{n:g}")

    def __rpow__(self, base: Any) -> Value:
        """Not supported (number ** Value): raises TypeError."""
        raise TypeError(
            "number ** Value is not supported: only Value ** number is. "
            "For c ** x write (x * math.log(c)).exp()."
        )

    def __neg__(self) -> Value:
        """d(out)/d(self) = -1."""
        return self._unary(-self.data, -1.0, "neg")

    # A plain number on the left: Python calls these after float's own operator gives up.
    def __radd__(self, other: float) -> Value:
        """d(out)/d(self) = 1."""
        return self + other

    def __rsub__(self, other: float) -> Value:
        """d(out)/d(self) = -1."""
        if not isinstance(other, numbers.Real):
            return NotImplemented
        return Value(other) - self

    def __rmul__(self, other: float) -> Value:
        """d(out)/d(self) = other."""
        return self * other

    def __rtruediv__(self, other: float) -> Value:
        """d(out)/d(self) = -other/self^2."""
        if not isinstance(other, numbers.Real):
            return NotImplemented
        return Value(other) / self

    # ---- elementary functions ---------------------------------------------

    def _unary(self, result: float, local: float, op: str) -> Value:
        """A node computed from self alone; `local` is d(out)/d(self), fixed at forward time."""
        out = Value(result, children=(self,), op=op)

        def _backward() -> None:
            self.grad += local * out.grad

        out._backward = _backward
        return out

    def exp(self) -> Value:
        """d(out)/d(self) = exp(self) = out."""
        try:
            result = math.exp(self.data)
        except OverflowError:
            raise OverflowError(
                f"exp() overflow: exp({self.data!r}) is larger than the largest float "
                "(inputs above ~709.78 overflow)"
            ) from None
        return self._unary(result, result, "exp")

    def log(self) -> Value:
        """d(out)/d(self) = 1 / self (natural logarithm)."""
        if not self.data > 0:  # also catches NaN
            raise ValueError(f"math domain error: log() needs a positive value, got {self.data!r}")
        return self._unary(math.log(self.data), 1.0 / self.data, "log")

    def tanh(self) -> Value:
        """d(out)/d(self) = 1 - tanh(self)^2 = 1 / cosh(self)^2."""
        x = self.data
        # 1 - t*t is 0 once tanh rounds to +-1 (|x| > ~19); 4e/(1+e)^2 with
        # e = exp(-2|x|) is the same quantity without that cancellation.
        e = math.exp(-2.0 * abs(x))
        return self._unary(math.tanh(x), 4.0 * e / (1.0 + e) ** 2, "tanh")

    def sigmoid(self) -> Value:
        """d(out)/d(self) = sigmoid(self) * (1 - sigmoid(self)) = sigmoid(x) * sigmoid(-x)."""
        x = self.data
        # exp of a non-positive number only: never overflows.
        e = math.exp(-abs(x))
        s = 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)
        # s * (1 - s) loses all digits once s rounds to 1; e/(1+e)^2 keeps them.
        return self._unary(s, e / (1.0 + e) ** 2, "sigmoid")

    def relu(self) -> Value:
        """d(out)/d(self) = 1 if self > 0 else 0 (we take 0 at the kink x = 0)."""
        x = self.data
        return self._unary(x if x > 0 else 0.0, 1.0 if x > 0 else 0.0, "relu")

    # ---- the backward pass -------------------------------------------------

    def backward(self) -> None:
        """Set self.grad = 1 and every node's grad to d(self)/d(node), summed over all paths.

        Gradients are *not* accumulated across calls: each call first resets the
        grad of every node in this graph to 0, so calling it twice gives the same
        result. (A leaf shared with another graph is reset too; to combine two
        losses, add them into one Value and call backward() on the sum.)
        """
        for _ in backward_steps(self):
            pass


def topological_order(root: Value) -> list[Value]:
    """Every node of root's graph once, each after all the nodes it was computed from.

    The root comes last. Iterative depth-first search, so graphs deeper than
    Python's recursion limit are fine; children are visited in order, so the
    result is deterministic.
    """
    order: list[Value] = []
    seen: set[Value] = set()
    # (node, expanded): a node is emitted when we come back to it after its children.
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        for child in reversed(node._children):  # reversed: first child is visited first
            if child not in seen:
                stack.append((child, False))
    return order


def backward_steps(root: Value) -> Iterator[Value]:
    """The backward pass of ``root``, one node at a time (for step-through pictures).

    Resets every grad in the graph to 0, sets ``root.grad = 1``, then for each
    node in reverse topological order applies its local backward step and yields
    that node. It yields once per node (root first); when it is exhausted, all
    grads equal what ``root.backward()`` gives. Nothing happens until you iterate.
    """
    order = topological_order(root)
    for node in order:
        node.grad = 0.0
    root.grad = 1.0
    for node in reversed(order):
        node._backward()
        yield node
