"""Draw a Value's computation graph with matplotlib alone (no graphviz needed).

Inputs are on the left, the root on the right; a node's column is its depth,
the longest path to it from any input (an unlabelled constant such as the 2 in
``x / 2`` is put just left of its first use instead). Each value is a rounded
box with its label, data and grad; the operation that made it is a small circle
just to its left, with arrows coming in from the operands (as micrograd draws
it). An arrow that skips columns runs through a lane reserved for it in each
column it crosses, so it never passes behind a box.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from .value import Value, backward_steps, topological_order

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["draw_graph", "backward_steps", "HIGHLIGHT_COLOR"]

# Geometry in inches at scale 1: one data unit is one inch of the natural-size picture.
BOX_W, BOX_H = 1.25, 0.62
OP_R = 0.22  # radius of the op circle
OP_GAP = 0.15  # from the op circle to the box it feeds
COL_PITCH = BOX_W + 1.05
BOX_GAP = 0.38  # vertical space between two boxes in a column
LANE_H, LANE_GAP = 0.04, 0.2  # a lane for an arrow that crosses a column
FONT_PT = 8.5
MAX_FIG_IN = (22.0, 14.0)  # bigger graphs are shrunk to fit, text included

LEAF_COLOR = "#dbeafe"
NODE_COLOR = "#f1f5f9"
ROOT_COLOR = "#dcfce7"
OP_COLOR = "#fef9c3"
HIGHLIGHT_COLOR = "#fdba74"
HIGHLIGHT_EDGE = "#c2410c"
EDGE_COLOR = "#334155"

_OP_SYMBOLS = {"+": "+", "-": "\u2212", "*": "\u00d7", "/": "\u00f7", "neg": "\u2212x",
               "sigmoid": "\u03c3", "relu": "ReLU"}


def _op_symbol(op: str) -> str:
    if op.startswith("**"):
        return "^" + op[2:]
    return _OP_SYMBOLS.get(op, op)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


class _Lane:
    """Where an arrow skipping columns crosses one column (a Sugiyama 'dummy node')."""

    __slots__ = ()


_Item = Value | _Lane
Point = tuple[float, float]


def _layout(root: Value) -> tuple[list[Value], dict[Value, Point], dict[tuple[Value, Value], list[Point]]]:
    """Deterministic layout: box centres, and the bends of each child -> parent arrow.

    Columns come from depth; the order within a column from a few sweeps that
    move each item toward the mean height of its neighbours (barycentre method).
    """
    order = topological_order(root)
    parents: dict[Value, list[Value]] = {node: [] for node in order}
    for node in order:
        for child in dict.fromkeys(node._children):  # dedupe x*x, keep order
            parents[child].append(node)
    col: dict[_Item, int] = {}
    for node in order:  # children come first, so their depths are known
        col[node] = 1 + max((col[c] for c in node._children), default=-1)
    for node in order:
        # An unnamed constant (the 2 in x / 2) sits just left of its first use,
        # not in column 0 with a long arrow across the picture.
        if not node._children and not node.label and parents[node]:
            col[node] = min(col[p] for p in parents[node]) - 1

    # Items are boxes and lanes; lower/upper link each to its neighbours one column away.
    rank: dict[_Item, int] = {node: i for i, node in enumerate(order)}  # tie-break
    lower: dict[_Item, list[_Item]] = {node: [] for node in order}
    upper: dict[_Item, list[_Item]] = {node: [] for node in order}
    lanes: dict[tuple[Value, Value], list[_Lane]] = {}
    for node in order:
        for child in dict.fromkeys(node._children):
            prev: _Item = child
            lanes[child, node] = []
            for c in range(col[child] + 1, col[node]):
                lane = _Lane()
                col[lane], rank[lane] = c, len(rank)
                lower[lane], upper[lane] = [prev], []
                upper[prev].append(lane)
                lanes[child, node].append(lane)
                prev = lane
            upper[prev].append(node)
            lower[node].append(prev)

    columns: list[list[_Item]] = [[] for _ in range(max(col.values()) + 1)]
    for item in sorted(col, key=rank.__getitem__):
        columns[col[item]].append(item)

    def height(item: _Item) -> float:
        return LANE_H if isinstance(item, _Lane) else BOX_H

    def spacing(a: _Item, b: _Item) -> float:
        gap = BOX_GAP if isinstance(a, Value) and isinstance(b, Value) else LANE_GAP
        return (height(a) + height(b)) / 2 + gap

    y: dict[_Item, float] = {}

    def place(items: list[_Item], desired: dict[_Item, float]) -> None:
        # Top to bottom by wish, push down whatever overlaps, then re-centre the
        # column on the wishes so it does not drift downward.
        ranked = sorted(items, key=lambda n: (-desired[n], rank[n]))
        placed: list[float] = []
        for i, n in enumerate(ranked):
            want = desired[n]
            placed.append(want if i == 0 else min(want, placed[-1] - spacing(ranked[i - 1], n)))
        shift = sum(desired[n] - p for n, p in zip(ranked, placed)) / len(ranked)
        for n, p in zip(ranked, placed):
            y[n] = p + shift

    def mean_y(items: list[_Item]) -> float:
        return sum(y[n] for n in items) / len(items)

    def toward_upper(n: _Item) -> float:
        # Operands fan out around their user, first operand on top (a above b in a / b).
        if not upper[n]:
            return y[n]
        wants = [y[u] + ((len(lower[u]) - 1) / 2 - lower[u].index(n)) * (BOX_H + BOX_GAP) / 2
                 for u in upper[n]]
        return sum(wants) / len(wants)

    def toward_lower(n: _Item) -> float:
        # A constant moved right has no operands: it follows its user instead.
        return mean_y(lower[n]) if lower[n] else toward_upper(n)

    for items in columns:  # first guess: DFS order, top to bottom
        place(items, {n: -i * (BOX_H + BOX_GAP) for i, n in enumerate(items)})
    for _ in range(3):
        for items in columns[1:]:
            place(items, {n: toward_lower(n) for n in items})
        for items in reversed(columns[:-1]):
            place(items, {n: toward_upper(n) for n in items})
    for items in columns[1:]:
        place(items, {n: toward_lower(n) for n in items})

    pos = {n: (col[n] * COL_PITCH, y[n]) for n in order}
    routes: dict[tuple[Value, Value], list[Point]] = {}
    for (child, node), crossing in lanes.items():
        x, cy = pos[child]
        points = [(x + BOX_W / 2, cy)]
        for lane in crossing:
            # Straight through the whole column, op circle included, then bend in the gap.
            lx = col[lane] * COL_PITCH
            points += [(lx - BOX_W / 2 - OP_GAP - 2 * OP_R, y[lane]), (lx + BOX_W / 2, y[lane])]
        routes[child, node] = points
    return order, pos, routes


def draw_graph(
    root: Value,
    ax: Axes | None = None,
    highlight: Value | Iterable[Value] | None = None,
) -> Axes:
    """Draw root's graph and return the Axes.

    Args:
        root: the output Value; everything it was computed from is drawn.
        ax: draw into this Axes (call ``ax.clear()`` first when redrawing);
            by default a new figure sized to the graph is made.
        highlight: a Value or several, drawn in orange (e.g. the node whose
            gradient a step-through is propagating).
    """
    if highlight is None:
        marked: set[Value] = set()
    elif isinstance(highlight, Value):
        marked = {highlight}
    else:
        marked = set(highlight)

    order, pos, routes = _layout(root)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for route in routes.values() for p in route] + [p[1] for p in pos.values()]
    pad = 0.25
    x0 = min(xs) - BOX_W / 2 - pad  # column 0 holds only inputs: no op circles
    x1 = max(xs) + BOX_W / 2 + pad
    y0, y1 = min(ys) - BOX_H / 2 - pad, max(ys) + BOX_H / 2 + pad
    width, height = x1 - x0, y1 - y0

    if ax is None:
        import matplotlib.pyplot as plt  # only now: importing pyplot picks a backend

        scale = min(1.0, MAX_FIG_IN[0] / width, MAX_FIG_IN[1] / height)
        fig = plt.figure(figsize=(width * scale, height * scale))
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    else:
        # Fit the drawing to the Axes we were given; text shrinks with it.
        fig_w, fig_h = ax.figure.get_size_inches()
        box = ax.get_position()
        scale = min(1.5, box.width * fig_w / width, box.height * fig_h / height)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="box")  # circles stay round
    ax.set_axis_off()

    font = FONT_PT * scale
    line_kw = dict(color=EDGE_COLOR, linewidth=0.9 * scale, zorder=1)
    arrow_kw = dict(arrowstyle="-|>", mutation_scale=9 * scale, shrinkA=0, shrinkB=0, **line_kw)

    for node in order:
        x, y = pos[node]
        if node in marked:
            face, edge, lw = HIGHLIGHT_COLOR, HIGHLIGHT_EDGE, 2.2
        else:
            face = ROOT_COLOR if node is root else (NODE_COLOR if node._children else LEAF_COLOR)
            edge, lw = EDGE_COLOR, 0.9
        ax.add_patch(FancyBboxPatch(
            (x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H,
            boxstyle="round,pad=0,rounding_size=0.1",
            facecolor=face, edgecolor=edge, linewidth=lw * scale, zorder=2,
        ))
        lines = [f"data={_fmt(node.data)}", f"grad={_fmt(node.grad)}"]
        if node.label:
            lines.insert(0, node.label)
        ax.text(x, y, "\n".join(lines), ha="center", va="center", fontsize=font,
                family="monospace", zorder=3)

        if not node._children:
            continue
        cx = x - BOX_W / 2 - OP_GAP - OP_R  # op circle centre
        ax.add_patch(Circle((cx, y), OP_R, facecolor=OP_COLOR, edgecolor=EDGE_COLOR,
                            linewidth=0.9 * scale, zorder=2))
        sym = _op_symbol(node.op)
        ax.text(cx, y, sym, ha="center", va="center", zorder=3,
                fontsize=font * min(1.0, 4.0 / max(len(sym), 1)))
        ax.add_patch(FancyArrowPatch((cx + OP_R, y), (x - BOX_W / 2, y), **arrow_kw))

        copies: dict[Value, int] = {}
        for child in node._children:
            k = copies[child] = copies.get(child, -1) + 1
            *bends, start = routes[child, node]
            dx, dy = start[0] - cx, start[1] - y
            dist = (dx * dx + dy * dy) ** 0.5
            end = (cx + OP_R * dx / dist, y + OP_R * dy / dist)  # on the circle, facing start
            if bends and k == 0:
                px, py = zip(*bends, start)
                ax.plot(px, py, solid_capstyle="butt", **line_kw)
            # The same operand twice (x*x): bend the copies apart so both show.
            rad = 0.0 if k == 0 else (0.25 if k % 2 else -0.25) * ((k + 1) // 2)
            ax.add_patch(FancyArrowPatch(start, end, connectionstyle=f"arc3,rad={rad}",
                                         **arrow_kw))
    return ax
