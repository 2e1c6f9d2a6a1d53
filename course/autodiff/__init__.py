"""Scalar reverse-mode automatic differentiation.

``Value`` is a number that records the operations applied to it;
``root.backward()`` then fills in ``grad`` on every node of the graph.
``draw_graph`` pictures such a graph and ``backward_steps`` runs the backward
pass one node at a time, for step-through explorations.
"""

from .draw import draw_graph
from .value import Value, backward_steps, topological_order

__all__ = ["Value", "backward_steps", "draw_graph", "topological_order"]
