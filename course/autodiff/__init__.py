"""Scalar reverse-mode automatic differentiation.

``Value`` is a number that records the operations applied to it;
``root.backward()`` then fills in ``grad`` on every node of the graph.
``draw_graph`` pictures such a graph and ``backward_steps`` runs the backward
pass one node at a time, for step-through explorations.
"""

from .value import Value, backward_steps, topological_order

__all__ = ["Value", "backward_steps", "draw_graph", "topological_order"]


def __getattr__(name: str):
    # The drawing needs matplotlib; import it on first use so that Value alone never does.
    if name == "draw_graph":
        from .draw import draw_graph

        return draw_graph
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
