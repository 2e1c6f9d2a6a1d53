"""Chapter 2's class Value: correct engines written two ways, and the classic mistakes."""
from __future__ import annotations

from autograder.catalogue import Variant, right, wrong

PARTS = ("local derivatives", "numbers on either side", "paths summed", "reverse order")

MICROGRAD_STYLE = '''import math
class Value:
    def __init__(self, data, _children=()):
        self.data = float(data)
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = tuple(_children)

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other))
        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other))
        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, n):
        out = Value(self.data ** n, (self,))
        def _backward():
            self.grad += n * self.data ** (n - 1) * out.grad
        out._backward = _backward
        return out

    def _unary(self, value, local):
        out = Value(value, (self,))
        def _backward():
            self.grad += local * out.grad
        out._backward = _backward
        return out

    def exp(self):
        e = math.exp(self.data)
        return self._unary(e, e)

    def log(self):
        return self._unary(math.log(self.data), 1 / self.data)

    def tanh(self):
        t = math.tanh(self.data)
        return self._unary(t, 1 - t * t)

    def sigmoid(self):
        s = 1 / (1 + math.exp(-self.data))
        return self._unary(s, s * (1 - s))

    def relu(self):
        return self._unary(max(self.data, 0.0), 1.0 if self.data > 0 else 0.0)

    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return self * other ** -1

    def __rtruediv__(self, other):
        return Value(other) * self ** -1

    def backward(self):
        order, seen = [], set()
        def visit(node):
            if node not in seen:
                seen.add(node)
                for child in node._prev:
                    visit(child)
                order.append(node)
        visit(self)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()
'''


def _edit(old: str, new: str) -> str:
    assert old in MICROGRAD_STYLE, old
    return MICROGRAD_STYLE.replace(old, new)


ITERATIVE = MICROGRAD_STYLE[: MICROGRAD_STYLE.index("    def backward(self):")] + '''    def backward(self):
        # Kahn's algorithm on the reversed graph: a node runs once all its users have run.
        users, stack, seen = {}, [self], {id(self)}
        while stack:
            node = stack.pop()
            for child in node._prev:
                users[id(child)] = users.get(id(child), 0) + 1
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append(child)
        self.grad = 1.0
        ready = [self]
        while ready:
            node = ready.pop()
            node._backward()
            for child in node._prev:
                users[id(child)] -= 1
                if users[id(child)] == 0:
                    ready.append(child)
'''

VARIANTS: list[Variant] = [
    right("Value", "micrograd style", MICROGRAD_STYLE, *PARTS, "inputs"),
    right("Value", "in-degree order instead of recursion", ITERATIVE, *PARTS, "inputs"),
    wrong("Value", "= instead of += at fan-out", _edit('''            self.grad += out.grad
            other.grad += out.grad''', '''            self.grad = out.grad
            other.grad = out.grad''').replace('''            self.grad += other.data * out.grad
            other.grad += self.data * out.grad''', '''            self.grad = other.data * out.grad
            other.grad = self.data * out.grad'''), **{"local derivatives": True, "paths summed": "+=",
          "numbers on either side": True, "inputs": True}),
    # Running nodes in topological order breaks every graph of more than one step; "reverse order" names why.
    wrong("Value", "topological order not reversed", _edit("for node in reversed(order):", "for node in order:"),
          **{"reverse order": "reverse topological order", "paths summed": "", "numbers on either side": "",
             "local derivatives": ""}),
    wrong("Value", "tanh derivative from the input", _edit("return self._unary(t, 1 - t * t)",
          "return self._unary(t, 1 - self.data * self.data)"), **{"local derivatives": "uses a where tanh(a) belongs",
          "paths summed": True, "numbers on either side": True, "inputs": True}),
    wrong("Value", "root grad never set", _edit("        self.grad = 1.0\n        for node", "        for node"),
          **{"local derivatives": "leaves every grad at 0", "paths summed": "leaves every grad at 0",
             "numbers on either side": "leaves every grad at 0", "reverse order": "leaves every grad at 0"}),
    wrong("Value", "1 - a computed as a - 1", _edit("        return (-self) + other", "        return self - other"),
          **{"numbers on either side": "computes", "local derivatives": True, "paths summed": True, "inputs": True}),
    wrong("Value", "exp derivative is the input", _edit("return self._unary(e, e)", "return self._unary(e, self.data)"),
          **{"local derivatives": "exp(a) itself", "paths summed": True, "numbers on either side": True, "inputs": True}),
    wrong("Value", "the reference engine", "from backprop.autodiff import Value\n",
          **{part: "reference solution" for part in PARTS}),
]
