"""The source notebooks: well-formed, runnable top to bottom, full marks with their solutions.

Every `source/<name>/<name>.ipynb` is run twice in a fresh kernel (cwd = its folder, Jupyter and
IPython state inside the project, MPLBACKEND=Agg, nbgrader's per-cell timeout):

- as written, with the solutions: no error, nothing on stderr (widget outputs included), and every
  grade cell earns its points, read the way nbgrader reads them;
- as an untouched student submission (solution regions replaced by nbgrader's stub, hidden tests
  kept, which is what autograding a blank notebook runs): every grade cell scores 0, and every cell
  that is not a test runs cleanly, so explorations and worked examples work before any exercise
  is solved. A cell that may only run once the exercises are solved says so with the cell tag
  `needs-solutions`.

Without running anything, each notebook's structure is checked against curriculum.md's rules, and
the numbers the ch01, ch02 and ch03 notebooks print are pinned to the reference package's
worked examples.
"""
from __future__ import annotations

import ast
import copy
import os
import re
from functools import cache
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from nbgrader.preprocessors import ClearSolutions
from nbgrader.utils import determine_grade, is_grade, is_locked, is_solution

from backprop import worked_examples

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source"
NOTEBOOKS = sorted(p for p in SOURCE.glob("*/*.ipynb") if p.stem == p.parent.name)
CELL_TIMEOUT = 30  # seconds; nbgrader's default for autograding (Execute.timeout)
NEEDS_SOLUTIONS_TAG = "needs-solutions"
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"

# curriculum.md, "Assignments and their graded functions": the graded names of each chapter
# ("def name" or "class Name"). ch06's names are the implementer's choice.
GRADED: dict[str, tuple[str, ...]] = {
    "ch01_chain_rule": ("sigmoid", "sigmoid_prime", "add_mul_grads", "neuron_grads"),
    "ch02_computation_graphs": ("Value",),
    "ch03_two_layer_network": (
        "linear_forward", "linear_backward", "relu_forward", "relu_backward", "sigmoid_forward",
        "sigmoid_backward", "tanh_forward", "tanh_backward", "two_layer_loss", "mlp_loss", "train_two_moons",
    ),
    "ch04_softmax_cross_entropy": ("softmax", "log_softmax", "softmax_cross_entropy", "softmax_jacobian"),
    "ch05_gradient_checking": ("numerical_gradient", "relative_error", "gradient_check", "directional_check"),
    "ch06_memory_checkpointing": ("checkpointed_backward",),
}

CH01 = SOURCE / "ch01_chain_rule" / "ch01_chain_rule.ipynb"
CH02 = SOURCE / "ch02_computation_graphs" / "ch02_computation_graphs.ipynb"
CH03 = SOURCE / "ch03_two_layer_network" / "ch03_two_layer_network.ipynb"


def notebook_id(path: Path) -> str:
    return path.stem


# ---------------------------------------------------------------------------------------------
# Running notebooks


@pytest.fixture(scope="module", autouse=True)
def jupyter_state_in_project():
    """Kernels, connection files, IPython and matplotlib state inside the project, never in $HOME."""
    state = ROOT / ".jupyter"
    dirs = {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data", "JUPYTER_RUNTIME_DIR": "runtime",
            "IPYTHONDIR": "ipython", "MPLCONFIGDIR": "matplotlib"}
    with pytest.MonkeyPatch.context() as mp:
        for variable, sub in dirs.items():
            (state / sub).mkdir(parents=True, exist_ok=True)
            mp.setenv(variable, str(state / sub))
        mp.setenv("MPLBACKEND", "Agg")
        yield


def stubbed(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook as a student receives it and hands it in untouched: solution regions replaced
    by nbgrader's own stub (ClearSolutions), hidden tests still in place as at autograding."""
    nb = copy.deepcopy(nb)
    nb, _ = ClearSolutions().preprocess(nb, {})
    return nb


def run(path: Path, nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=dict(os.environ))
    return nb


@cache
def executed(path: Path, student: bool = False) -> nbformat.NotebookNode:
    """`path` run top to bottom in a fresh kernel: as written, or as an untouched student copy."""
    nb = nbformat.read(path, as_version=4)
    return run(path, stubbed(nb) if student else nb)


def widget_outputs(nb: nbformat.NotebookNode) -> list[dict]:
    """Outputs captured by ipywidgets Output widgets (where interact/interactive_output draw)."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return [output for model in state.values() if model.get("model_name") == "OutputModel"
            for output in model.get("state", {}).get("outputs", [])]


def problems_in_outputs(where: str, outputs: list[dict]) -> list[str]:
    problems = []
    for output in outputs:
        if output.get("output_type") == "error":
            problems.append(f"{where}: {output['ename']}: {output['evalue']}")
        elif output.get("output_type") == "stream" and output.get("name") == "stderr":
            problems.append(f"{where}: wrote to stderr: {output['text'].strip()[:300]}")
    return problems


def text_of(cell: nbformat.NotebookNode) -> str:
    """Everything a code cell printed to stdout."""
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def cell_by_id(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    found = [cell for cell in nb.cells if cell.get("id") == cell_id]
    assert len(found) == 1, f"no cell with id {cell_id!r}"
    return found[0]


# ---------------------------------------------------------------------------------------------
# Running the notebooks


def test_there_are_notebooks_to_test():
    assert NOTEBOOKS, f"no source notebook found as {SOURCE}/<name>/<name>.ipynb"
    assert CH01 in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_runs_top_to_bottom_without_errors_or_stderr(path):
    nb = executed(path)
    problems = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            problems += problems_in_outputs(f"cell {cell.id!r}", cell.outputs)
    problems += problems_in_outputs("a widget's output", widget_outputs(nb))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_solutions_earn_full_marks(path):
    nb = executed(path)
    grade_cells = [cell for cell in nb.cells if is_grade(cell) and cell.cell_type == "code"]
    assert grade_cells, "the notebook has no grade cell"
    for cell in grade_cells:
        score, max_score = determine_grade(cell)
        assert score == max_score, f"cell {cell.id!r} scores {score} of {max_score}"
        if BEGIN_HIDDEN in cell.source:  # hidden tests report partial credit: it must be all of it
            values = [o for o in cell.outputs if o.output_type == "execute_result"]
            assert values, f"cell {cell.id!r}: the hidden tests' last expression gives no partial-credit value"
            assert float(values[-1].data["text/plain"]) == max_score, cell.id


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_untouched_student_version_scores_zero_and_its_explorations_run(path):
    nb = executed(path, student=True)
    problems = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if is_grade(cell):
            score, max_score = determine_grade(cell)
            if score != 0:
                problems.append(f"cell {cell.id!r}: a blank submission scores {score} of {max_score}")
        elif not is_locked(cell) and NEEDS_SOLUTIONS_TAG not in cell.metadata.get("tags", []):
            problems += problems_in_outputs(f"cell {cell.id!r} (before any exercise is solved)", cell.outputs)
    problems += problems_in_outputs("a widget's output (before any exercise is solved)", widget_outputs(nb))
    assert not problems, "\n".join(problems)

def markdown_of(path: Path, cell_id: str) -> str:
    """A Markdown cell's text with its line breaks and runs of spaces made single spaces."""
    return " ".join(cell_by_id(nbformat.read(path, as_version=4), cell_id).source.split())


def visible_tests(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The locked cells that call check(...): what a student runs to test an exercise."""
    return [c for c in nb.cells if c.cell_type == "code" and is_locked(c) and not is_grade(c) and "check(" in c.source]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_every_graded_name_has_a_visible_test_that_fails_on_a_blank(path):
    nb = executed(path, student=True)
    tests = visible_tests(nb)
    checked = {m for c in tests for m in re.findall(r"""check\(\s*["'](\w+)["']""", c.source)}
    assert set(GRADED[path.stem]) <= checked, f"graded names without a visible test: {set(GRADED[path.stem]) - checked}"
    for cell in tests:
        assert any(o.output_type == "error" for o in cell.outputs), f"visible test {cell.id!r} passes on a blank"


# The fewest "Predict, then check" questions each chapter asks.
PREDICT_THEN_CHECK = {"ch01_chain_rule": 4, "ch02_computation_graphs": 4, "ch03_two_layer_network": 6,
                      "ch04_softmax_cross_entropy": 5, "ch05_gradient_checking": 5, "ch06_memory_checkpointing": 2}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_predict_then_check_answers_are_collapsed(path):
    nb = nbformat.read(path, as_version=4)
    answers = [cell for cell in nb.cells if cell.id.endswith("-answer")]
    assert len(answers) >= PREDICT_THEN_CHECK[path.stem]
    for cell in answers:
        assert cell.cell_type == "markdown" and cell.metadata.get("jupyter", {}).get("source_hidden") is True, cell.id


# ---------------------------------------------------------------------------------------------
# Structure (no kernel needed)


def python_of(source: str) -> ast.Module:
    """A code cell's source as Python, IPython's `%` and `!` lines blanked."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n")]
    return ast.parse("\n".join(lines))


def bound_names(tree: ast.Module) -> dict[str, list[str]]:
    """Every name a cell binds anywhere (def, class, import, assignment target) -> how."""
    found: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.setdefault(node.name, []).append("defines")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                found.setdefault(alias.asname or alias.name.split(".")[0], []).append("imports")
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.setdefault(node.id, []).append("assigns")
    return found


def structure_problems(nb: nbformat.NotebookNode, graded: tuple[str, ...]) -> list[str]:
    problems = []
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        problems.append(f"nbformat {nb.nbformat}.{nb.nbformat_minor}: cell ids need 4.5")
    ids = [cell.get("id") for cell in nb.cells]
    if None in ids or "" in ids:
        problems.append("some cells have no id")
    if len(set(ids)) != len(ids):
        problems.append(f"repeated cell ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    for cell in nb.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            problems.append(f"cell {cell.id!r}: outputs or execution count not cleared")

    trees = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            trees[cell.id] = python_of(cell.source)
        except SyntaxError as err:
            problems.append(f"cell {cell.id!r}: not valid Python: {err}")
        if is_solution(cell):
            if BEGIN_SOLUTION not in cell.source or END_SOLUTION not in cell.source:
                problems.append(f"solution cell {cell.id!r} has no {BEGIN_SOLUTION} / {END_SOLUTION} pair")
            for line in cell.source.split("\n"):
                if line.lstrip().startswith(("%", "!")):
                    problems.append(f"solution cell {cell.id!r}: {line.strip()!r} is not plain Python")

    by_id = {cell.id: cell for cell in nb.cells}
    for name in graded:
        top_level = [(cell_id, node) for cell_id, tree in trees.items() for node in tree.body
                     if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name]
        if len(top_level) != 1:
            problems.append(f"{name} is defined at top level {len(top_level)} times (once, please)")
            continue
        cell_id, node = top_level[0]
        cell = by_id[cell_id]
        if not is_solution(cell):
            problems.append(f"{name} is defined in cell {cell_id!r}, which is not a solution cell")
            continue
        others = [f"cell {other!r} {', '.join(sorted(set(how)))} it" for other, tree in trees.items()
                  for bound, how in bound_names(tree).items() if bound == name and other != cell_id]
        own = bound_names(trees[cell_id]).get(name, [])
        if others or len(own) > 1:
            problems.append(f"{name} must be bound only by its definition: " + "; ".join(others or ["twice"]))
        # What the student sees: the def line and docstring survive nbgrader's stub.
        student = ClearSolutions().preprocess(nbformat.v4.new_notebook(cells=[copy.deepcopy(cell)]), {})[0]
        shown = [n for n in python_of(student.cells[0].source).body
                 if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name]
        if not shown:
            problems.append(f"{name}: its def/class line is inside the solution markers")
        elif ast.get_docstring(shown[0]) is None:
            problems.append(f"{name}: its docstring is inside the solution markers (or missing)")

    for cell in nb.cells:
        if cell.cell_type == "code" and is_grade(cell):
            if not is_locked(cell):
                problems.append(f"grade cell {cell.id!r} is not locked")
            if cell.id in trees:  # grade("name", globals(), points=P, seed=S): P is the cell's points
                for node in ast.walk(trees[cell.id]):
                    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "grade":
                        points = {k.arg: k.value for k in node.keywords}.get("points")
                        if not (isinstance(points, ast.Constant)
                                and float(points.value) == float(cell.metadata.nbgrader["points"])):
                            problems.append(f"grade cell {cell.id!r}: grade(..., points=) differs from the "
                                            "cell's nbgrader points")
        if BEGIN_HIDDEN in cell.source and not is_grade(cell):
            problems.append(f"cell {cell.id!r} has hidden tests but is not a grade cell")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_structure_follows_the_curriculum(path):
    assert path.stem in GRADED, f"{path.stem} is not a chapter of curriculum.md; add its graded names to GRADED"
    nb = nbformat.read(path, as_version=4)
    problems = structure_problems(nb, GRADED[path.stem])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_the_course_format_checker_accepts_it(path):
    from autograder.pipeline import notebook_format

    assert notebook_format.problems_in_source(path) == []


# ---------------------------------------------------------------------------------------------
# ch01: the numbers it shows


def printed_numbers(cell: nbformat.NotebookNode) -> dict[str, float]:
    """`name = number` lines of a cell's printed output -> {name: number}."""
    pattern = re.compile(r"^\s*([^=\n]*?\S)\s*=\s*(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)\s*$", re.M)
    return {name: float(value) for name, value in pattern.findall(text_of(cell))}


def assert_printed(shown: dict[str, float], expected: dict[str, float], decimals: int = 4):
    for name, value in expected.items():
        assert name in shown, f"{name} is not printed"
        assert abs(shown[name] - value) <= 0.5 * 10**-decimals + 1e-12, f"{name}: shows {shown[name]}, is {value}"


def test_ch01_worked_examples_show_the_reference_numbers():
    nb = executed(CH01)
    add_mul = worked_examples.add_mul()
    assert_printed(printed_numbers(cell_by_id(nb, "add-mul-by-hand")), {
        "x": -2.0, "y": 5.0, "z": -4.0, "q": add_mul["q"], "f": add_mul["f"],
        "df/dx": add_mul["dx"], "df/dy": add_mul["dy"], "df/dz": add_mul["dz"],
    })
    neuron = worked_examples.sigmoid_neuron()
    assert_printed(printed_numbers(cell_by_id(nb, "neuron-by-hand")), {
        "z": neuron["z"], "a": neuron["a"], "loss": neuron["loss"], "dL/dz": neuron["dz"],
        "dL/dw1": neuron["dw"][0], "dL/dw2": neuron["dw"][1], "dL/db": neuron["db"],
    })
    assert_printed(printed_numbers(cell_by_id(nb, "neuron-step")), {
        "w1 new": neuron["w_new"][0], "w2 new": neuron["w_new"][1], "b new": neuron["b_new"],
        "loss new": neuron["loss_after"],
    })


def test_ch01_gradient_checks_agree():
    nb = executed(CH01)
    for cell_id in ("add-mul-numeric-check", "neuron-numeric-check"):
        errors = [float(e) for e in re.findall(r"relative error:? (\S+?)\s", text_of(cell_by_id(nb, cell_id)) + " ")]
        assert errors and max(errors) < 1e-7, (cell_id, errors)
    swish = dict(re.findall(r"^(.+?):\s+(-?\d+\.\d+)$", text_of(cell_by_id(nb, "paths-swish")), re.M))
    values = {float(v) for k, v in swish.items() if not k.startswith("path ")}
    assert len(values) == 1, swish  # sum of the paths = central difference = Value engine


def test_ch01_tangent_exploration_draws_and_its_product_matches_the_slope():
    nb = executed(CH01, student=True)  # the exploration must work before any exercise is solved
    outputs = widget_outputs(nb)
    assert any("image/png" in o.get("data", {}) for o in outputs), "the exploration drew no figure"
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    product = re.search(r"local slopes: .* = (-?\d+\.\d+)", printed)
    numeric = re.search(r"central difference of the whole chain at x = \S+: (-?\d+\.\d+)", printed)
    assert product and numeric, printed
    assert float(product.group(1)) == pytest.approx(float(numeric.group(1)), abs=2e-4)


# ---------------------------------------------------------------------------------------------
# ch02: the numbers it shows, its exploration, the student's engine


def printed_values(cell: nbformat.NotebookNode) -> dict[str, float]:
    """`name = number` at the start of printed lines, whatever follows the number -> {name: number}."""
    pattern = re.compile(r"^\s*([^=\n]*?\S)\s*=\s*(-?\d+\.\d+)(?![\d.])", re.M)
    return {name: float(value) for name, value in pattern.findall(text_of(cell))}


def printed_counts(cell: nbformat.NotebookNode) -> dict[str, int]:
    """`name: 12,345` lines -> {name: 12345} (integers printed with thousands separators)."""
    return {name: int(value.replace(",", ""))
            for name, value in re.findall(r"^([^:\n]+):\s+(\d[\d,]*)\b", text_of(cell), re.M)}


def source_table(cell: nbformat.NotebookNode) -> dict[str, tuple[float, float, str]]:
    """The 'source | exact | verdict' rows a cell prints -> {name: (source's number, exact number, verdict)}."""
    row = r"^(\S.*?)\s+(-?\d\.\d{3})\s+(-?\d\.\d{6})\s+(?:-?\d\.\d{3}\s+)?(right|WRONG)"
    rows = re.findall(row, text_of(cell), re.M)
    return {name.strip(): (float(src), float(exact), verdict) for name, src, exact, verdict in rows}


def ch02_single_example_grads() -> dict[str, float]:
    """The 1-2-1 network's gradients on the example x = 1, y = 0.8, by the reference engine."""
    from backprop.autodiff import Value as Reference

    p = {k: Reference(v) for k, v in {"w1": 0.5, "b1": 0.1, "w2": -0.3, "b2": -0.2, "v1": 0.8, "v2": -0.6,
                                      "c": 0.2}.items()}
    x = Reference(1.0)
    yhat = p["v1"] * (p["w1"] * x + p["b1"]).sigmoid() + p["v2"] * (p["w2"] * x + p["b2"]).sigmoid() + p["c"]
    loss = (yhat - 0.8) ** 2 / 2
    loss.backward()
    return {name: node.grad for name, node in p.items()} | {"x": x.grad}


def test_ch02_worked_examples_show_the_reference_numbers():
    nb = executed(CH02)
    regression = worked_examples.regression_121()
    assert_printed(printed_values(cell_by_id(nb, "regression-grads")),
                   {"L": regression["loss"]} | {f"dL/d{k}": g for k, g in regression["grads"].items()}, decimals=6)
    # The source's boxed gradients: c, v1 and w2 are off in the last digit, the other four are right.
    table = source_table(cell_by_id(nb, "regression-source"))
    assert {name: verdict for name, (_, _, verdict) in table.items()} == {
        f"dL/d{k}": ("WRONG" if k in ("c", "v1", "w2") else "right") for k in regression["grads"]}
    for name, (_, exact, _) in table.items():
        assert abs(exact - regression["grads"][name[4:]]) < 5e-7, name

    classifier = worked_examples.nail_screw_classifier()
    cell = cell_by_id(nb, "classifier-forward")
    assert_printed(printed_values(cell), {
        "L": classifier["loss"], "dL/dv13": classifier["dV"][0, 2], "dL/dw31": classifier["dW"][2, 0],
        "dL/dw32": classifier["dW"][2, 1]})
    s_rows = re.findall(r"\bs = \((-?\d\.\d+), (-?\d\.\d+)\)", text_of(cell))
    assert np.allclose(np.array(s_rows, dtype=float), classifier["S"], atol=5e-5), s_rows
    assert text_of(cell).rstrip().endswith("True")
    # The source's s2 slip: the right values are shown, and what it propagates to is marked wrong.
    printed = text_of(cell_by_id(nb, "classifier-source"))
    exact_s2 = [float(v) for v in re.findall(r"exact s2 = (-?\d\.\d+)", printed)]
    assert np.allclose(exact_s2, classifier["S"][:, 1], atol=5e-5), printed
    table = source_table(cell_by_id(nb, "classifier-source"))
    assert {name: verdict for name, (_, _, verdict) in table.items()} == {
        "yhat2, example 1": "WRONG", "yhat2, example 2": "WRONG", "delta_s2, example 1": "WRONG",
        "delta_s2, example 2": "WRONG", "dL/dv13": "right", "dL/dw31": "right", "dL/dw32": "WRONG"}
    assert abs(table["dL/dw32"][1] - classifier["dW"][2, 1]) < 5e-7
    assert abs(table["yhat2, example 1"][1] - classifier["Yhat"][0, 1]) < 5e-7


def test_ch02_every_computed_gradient_agrees_with_its_check():
    nb = executed(CH02)
    for cell_id, columns in (("local-check", r"(-?\d+\.\d{6})\s+(-?\d+\.\d{6})$"),
                             ("global-check", r"(-?\d+\.\d{6})\s+(-?\d+\.\d{6})$"),
                             ("modes-dual", r"(-?\d+\.\d{6})\s+(-?\d+\.\d{6})$")):
        pairs = [(float(a), float(b)) for a, b in re.findall(columns, text_of(cell_by_id(nb, cell_id)), re.M)]
        assert len(pairs) >= 7 and all(abs(a - b) <= 2e-6 for a, b in pairs), (cell_id, pairs)
    three = [float(v) for v in re.findall(r"= (-?\d\.\d{6})$", text_of(cell_by_id(nb, "children-x")), re.M)]
    assert len(three) == 3 and max(three) - min(three) < 1e-9, three  # children, paths, engine
    assert abs(three[0] - ch02_single_example_grads()["x"]) < 5e-7
    forward_mode = {name: float(v) for name, v in re.findall(r"^dL/d(\w+)\s+(-?\d\.\d{6})",
                                                            text_of(cell_by_id(nb, "modes-dual")), re.M)}
    grads = worked_examples.regression_121()["grads"]
    assert set(forward_mode) == set(grads) and all(abs(forward_mode[k] - g) < 5e-7 for k, g in grads.items())
    wins = re.findall(r"mode: \[([^\]]*)\]", text_of(cell_by_id(nb, "modes-wins")))
    assert len(wins) == 2 and wins[0] == wins[1], wins


def test_ch02_path_and_edge_counts_are_computed():
    nb = executed(CH02)
    counts = printed_counts(cell_by_id(nb, "cost-count"))
    assert counts["edges"] == 5 * 100 * 100 + 100 == counts["additions to count the paths"]
    assert counts["paths from one input to the output"] == 100**5
    assert counts["paths from all 100 inputs"] == 100**6
    assert counts["paths from one first-layer weight"] == 100**4
    assert "paths x 100, edges x 1.200" in text_of(cell_by_id(nb, "predict-cost-check"))


def test_ch02_only_the_reverse_order_gives_the_gradients():
    nb = executed(CH02)
    row = r"^(\w+)\s+(-?\d\.\d{4})\s+(-?\d\.\d{4})\s+(-?\d\.\d{4})$"
    rows = re.findall(row, text_of(cell_by_id(nb, "order-demo")), re.M)
    table = {name: tuple(float(v) for v in values) for name, *values in rows}
    right = ch02_single_example_grads()
    assert set(table) == set(right)
    for name, (reverse, forward, one_swap) in table.items():
        assert abs(reverse - right[name]) < 5e-5 and forward == 0.0, name
        if name in ("w1", "b1"):
            assert one_swap == 0.0  # upstream of a1, which passed on its grad too early
        elif name == "x":
            assert abs(one_swap - reverse) > 1e-3  # only the path through z2 arrived
        else:
            assert one_swap == reverse, name
    lines = text_of(cell_by_id(nb, "predict-order-check")).splitlines()
    assert len(lines) == 2 and lines[0].split(":", 1)[1].strip() == lines[1].split(":", 1)[1].strip(), lines


def run_cells(path: Path, cell_ids: tuple[str, ...]) -> dict:
    """Some of a notebook's cells run in this process, in order, as a student would run them; their namespace."""
    import warnings

    nb = nbformat.read(path, as_version=4)
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # plt.show() on Agg outside a kernel
        for cell_id in cell_ids:
            exec(compile(python_of(cell_by_id(nb, cell_id).source), cell_id, "exec"), namespace)  # noqa: S102
    namespace["plt"].close("all")
    return namespace


def ch02_exploration() -> dict:
    return run_cells(CH02, ("setup", "explore-parser", "explore-widget"))


def test_ch02_exploration_steps_to_the_end_and_explains_bad_expressions(capsys):
    nb = executed(CH02, student=True)  # the exploration must work before the exercise is solved
    outputs = widget_outputs(nb)
    assert any("image/png" in o.get("data", {}) for o in outputs), "the exploration drew no figure"
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "Forward pass done" in printed, printed
    log = text_of(cell_by_id(nb, "explore-log"))
    assert "Step 4 of 4: x is processed" in log and "It is a leaf" in log, log
    messages = text_of(cell_by_id(nb, "explore-messages"))
    assert len(messages.splitlines()) == 8 and messages.count("-> fine") == 1, messages

    space = ch02_exploration()
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(space["plt"], "show", lambda: None)
        space["show_backward"]("x * x + (x * y).tanh() / z", 99)  # every step: the final check is printed
        space["plt"].close("all")
    final = capsys.readouterr().out
    checks = re.findall(r"^\s+(\w): grad (-?\d+\.\d+)\s+central difference (-?\d+\.\d+)$", final, re.M)
    assert {name for name, _, _ in checks} == {"x", "y", "z"}, final
    assert all(abs(float(g) - float(c)) < 1e-5 for _, g, c in checks), final
    for hostile in ["().__class__.__bases__[0].__subclasses__()", "__import__('os')", "open('x')", "x.data",
                    "[x for x in ()]", "lambda: 1", "x if y else z", "'text'", "9 ** 9 ** 9 ** 9", "x.exp(1)",
                    "(" * 150 + "x" + ")" * 150, "x " * 300]:
        with pytest.raises(space["ExpressionError"]):
            space["build_expression"](hostile)
        space["show_backward"](hostile, 1)  # a message, never an exception
        assert capsys.readouterr().out.startswith(f"Cannot draw {hostile!r}")


def test_ch02_your_engine_reproduces_both_networks():
    nb = executed(CH02)
    regression = worked_examples.regression_121()
    cell = cell_by_id(nb, "engine-regression")
    assert_printed(printed_values(cell), {f"dL/d{k}": g for k, g in regression["grads"].items()}, decimals=6)
    assert text_of(cell).rstrip().endswith("True")
    cell = cell_by_id(nb, "engine-classifier")
    assert_printed(printed_values(cell), {"dL/dw32": worked_examples.nail_screw_classifier()["dW"][2, 1]}, decimals=6)
    assert text_of(cell).rstrip().endswith("True")


def test_ch02_blank_student_version_has_a_class_to_fill_in():
    nb = executed(CH02, student=True)
    tests = cell_by_id(nb, "value-tests")
    assert any(o.output_type == "error" for o in tests.outputs), "Value's visible tests pass on a blank"
    solution = cell_by_id(nb, "value-solution")
    assert not solution.outputs, "the blank class cell must run cleanly"
    for cell in nb.cells:  # every cell that uses the student's Value says it needs the solution
        if cell.cell_type == "code" and re.search(r"(?<![.\w])Value\(", cell.source) and cell.id != "value-solution":
            assert is_locked(cell) or NEEDS_SOLUTIONS_TAG in cell.metadata.get("tags", []), cell.id
    # What the student is given: a class that can be instantiated, with every method of the interface to write.
    namespace = {"math": __import__("math")}
    exec(solution.source, namespace)  # noqa: S102 - the notebook's own cell
    Value = namespace["Value"]
    leaf = Value(3)
    assert leaf.data == 3.0 and isinstance(leaf.data, float) and leaf.grad == 0.0
    methods = ("__add__", "__sub__", "__mul__", "__truediv__", "__neg__", "__pow__", "__radd__", "__rsub__",
               "__rmul__", "__rtruediv__", "exp", "log", "tanh", "sigmoid", "relu", "backward")
    for method in methods:
        assert getattr(Value, method).__doc__, f"{method} has no docstring in the student version"
    with pytest.raises(NotImplementedError):
        leaf + 1


# ---------------------------------------------------------------------------------------------
# ch03: the numbers it shows, its explorations, its debugging exercise


def require_notebook(path: Path) -> None:
    assert path in NOTEBOOKS, f"{path.relative_to(ROOT)} is missing"


def test_ch03_worked_example_shows_the_reference_numbers():
    require_notebook(CH03)
    nb = executed(CH03)
    example = worked_examples.dead_relu_network()
    grads = example["grads"]
    delta2 = example["yhat"] - 0.0  # y = 0, N = 1
    assert_printed(printed_numbers(cell_by_id(nb, "dead-relu-by-hand")), {
        "z1[0]": example["z1"][0], "z1[1]": example["z1"][1], "a1[0]": example["a1"][0], "a1[1]": example["a1"][1],
        "z2": example["z2"], "yhat": example["yhat"], "loss": example["loss"], "delta2": delta2,
        "dL/dW2[0]": grads["W2"][0, 0], "dL/dW2[1]": grads["W2"][1, 0], "dL/db2": grads["b2"][0],
        "delta1[0]": 0.0, "delta1[1]": -delta2, "dL/db1[0]": grads["b1"][0], "dL/db1[1]": grads["b1"][1],
    })
    # The source's slip: 4 x delta2 rounded first is 0.0720; the right value is 0.0719.
    assert f"{grads['W2'][1, 0]:.4f}" == "0.0719"
    assert_printed(printed_numbers(cell_by_id(nb, "dead-relu-rounding")), {
        "4 × delta2, rounded first": 4 * round(delta2, 4), "4 × delta2, exact": grads["W2"][1, 0],
    })
    assert "dL/dW2[1]  =   0.0719" in text_of(cell_by_id(nb, "dead-relu-by-hand"))


def test_ch03_gradient_checks_agree():
    require_notebook(CH03)
    nb = executed(CH03)
    for cell_id in ("affine-numeric-check", "dead-relu-numeric-check"):
        errors = [float(e) for e in re.findall(r"relative error:? (\S+?)\s", text_of(cell_by_id(nb, cell_id)) + " ")]
        assert errors and max(errors) < 1e-7, (cell_id, errors)
    assert "True" in text_of(cell_by_id(nb, "dead-relu-numeric-check"))
    assert "False" not in text_of(cell_by_id(nb, "affine-numeric-check"))


def test_ch03_explorations_draw_before_any_exercise_is_solved():
    require_notebook(CH03)
    nb = executed(CH03, student=True)
    outputs = widget_outputs(nb)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2, "the two explorations drew no figures"
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "no dead unit" in printed or "dead units" in printed, printed
    accuracy = re.search(r"accuracy: training (\d+\.\d)%, new points (\d+\.\d)%", printed)
    assert accuracy and float(accuracy.group(2)) > 95, printed  # the training explorer's default settings work
    assert "Finish exercise 9" in text_of(cell_by_id(nb, "train-live"))


def test_ch03_live_training_learns_with_the_solution():
    require_notebook(CH03)
    cell = cell_by_id(executed(CH03), "train-live")
    assert any("image/png" in o.get("data", {}) for o in cell.outputs if o.output_type == "display_data")
    accuracy = re.search(r"(\d+\.\d)% on 400 new points", text_of(cell))
    assert accuracy and float(accuracy.group(1)) > 95, text_of(cell)


def test_ch03_debug_this_names_each_planted_bug_and_the_fixes_pass():
    """The colleague's backward has three bugs that `check` names; fixing them (the collapsed answer's lines)
    makes every piece pass and the network's gradients equal the reference's."""
    require_notebook(CH03)
    from autograder import report_for
    from backprop import activations, data, network

    source = cell_by_id(nbformat.read(CH03, as_version=4), "debug-suspect").source

    def run(code: str) -> tuple[str, bool]:
        namespace = {"np": np, "act": activations}
        exec(code, namespace)  # noqa: S102 - the notebook's own cell
        report = report_for("linear_backward", {"linear_forward": namespace["suspect_linear_forward"],
                                                "linear_backward": namespace["suspect_linear_backward"]})
        X, y = data.two_moons(8, noise=0.1, seed=3)
        params = network.init_params([2, 5, 1], seed=3)
        _, got = namespace["suspect_two_layer_loss"](params, X, y)
        _, want = network.two_layer_loss(params, X, y)
        agree = all(np.shape(got[k]) == want[k].shape and np.allclose(got[k], want[k]) for k in want)
        return report.text(with_points=False), report.passed and agree

    text, ok = run(source)
    assert not ok and "the transpose of" in text and "summed over the wrong axis" in text, text
    transpose_fixed = source.replace("dW = dZ.T @ X / m", "dW = X.T @ dZ / m")
    assert transpose_fixed != source
    text, ok = run(transpose_fixed)
    assert not ok and "N = 4 times too small" in text, text  # the bug the transpose was hiding
    fixed = transpose_fixed.replace("dW = X.T @ dZ / m", "dW = X.T @ dZ").replace("db = dZ.sum(axis=1)", "db = dZ.sum(axis=0)")
    text, ok = run(fixed)
    assert ok, text

    printed = text_of(cell_by_id(executed(CH03, student=True), "debug-inspect"))
    assert "the transpose of" in printed and "summed over the wrong axis" in printed, printed
    assert "relu_backward: no problem found" in printed, printed


# ---------------------------------------------------------------------------------------------
# ch04_softmax_cross_entropy: the numbers it shows and states, its exploration, the cost of a Jacobian

CH04 = SOURCE / "ch04_softmax_cross_entropy" / "ch04_softmax_cross_entropy.ipynb"


def test_ch04_softmax_worked_example_and_its_shift_show_the_reference_numbers():
    require_notebook(CH04)
    from backprop import losses

    nb = executed(CH04)
    z = np.array([2.0, 1.0, 0.1])
    e, p = np.exp(z), losses.softmax(z)
    assert_printed(printed_numbers(cell_by_id(nb, "softmax-by-hand")), {
        "exp(z1)": e[0], "exp(z2)": e[1], "exp(z3)": e[2], "sum": e.sum(), "p1": p[0], "p2": p[1], "p3": p[2]})
    assert "the reference agrees: True" in text_of(cell_by_id(nb, "softmax-by-hand"))
    # The collapsed answer states two rounded probabilities: the largest one of z and of 2z.
    answer = markdown_of(CH04, "predict-shift-answer")
    assert f"from about {p[0]:.2f} to about {losses.softmax(2 * z)[0]:.2f}" in answer, answer
    shown = text_of(cell_by_id(nb, "predict-shift-check")).splitlines()
    assert shown[0].split("=")[1] == shown[1].split("=")[1], shown  # z and z + 100 print the same probabilities


def test_ch04_overflow_is_shown_with_its_warnings_caught():
    require_notebook(CH04)
    nb = executed(CH04)
    printed = text_of(cell_by_id(nb, "overflow-demo"))
    blocks = printed.split("\n\n")[1:]
    assert len(blocks) == 4, printed
    assert "nan" not in blocks[0] and all("naive:   [nan" in block for block in blocks[1:]), printed
    assert all("nan" not in line for line in printed.splitlines() if "shifted" in line), printed
    assert "overflow encountered in exp" in blocks[1] and "invalid value encountered" in blocks[2], printed
    assert f"exp(709) = {np.exp(709.0):.4g}" in printed
    check = text_of(cell_by_id(nb, "predict-overflow-check"))
    assert "[[nan, nan], [0.5, 0.5]]" in check and "[[0.5, 0.5], [nan, nan]]" in check, check
    assert "[[0.5, 0.5], [0.5, 0.5]]" in check, check


def test_ch04_log_softmax_demo_and_the_clipping_cap():
    require_notebook(CH04)
    nb = executed(CH04)
    rows = text_of(cell_by_id(nb, "logsoftmax-demo")).splitlines()[1:]
    assert "-inf" in rows[0] and "-800." in rows[0].split("]")[-2], rows
    cap = f"{np.log(1e-8):.4f}"
    assert rows[0].count(cap) == 1 and rows[1].count(cap) == 1 and cap not in rows[2], rows
    assert f"{np.log(1e-8):.1f}" == "-18.4" and "-18.4" in markdown_of(CH04, "logsoftmax-intro")
    assert any("image/png" in o.get("data", {}) for o in cell_by_id(nb, "logsoftmax-figure").outputs)


def test_ch04_cross_entropy_worked_example_shows_the_reference_numbers():
    require_notebook(CH04)
    from backprop import losses

    nb = executed(CH04)
    Z = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0]])
    y = np.array([0, 2])
    loss, dZ = losses.softmax_cross_entropy(Z, y)
    logP = losses.log_softmax(Z)
    cell = cell_by_id(nb, "ce-by-hand")
    assert_printed(printed_numbers(cell), {"-log p[1, y1]": -logP[0, 0], "-log p[2, y2]": -logP[1, 2], "loss": loss})
    matrix = re.search(r"dZ = \(P - Y\) / N =\n(.*?)\neach row", text_of(cell), re.S).group(1)
    shown = np.array([float(v) for v in re.findall(r"-?\d+\.\d+", matrix)]).reshape(2, 3)
    assert np.allclose(shown, dZ, atol=5e-5), shown
    check = text_of(cell_by_id(nb, "ce-numeric-check"))
    error = float(re.search(r"relative error (\S+)", check).group(1))
    assert error < 1e-7 and check.rstrip().endswith("True True"), check
    twice = text_of(cell_by_id(nb, "predict-ce-check"))
    assert f"loss: {loss:.4f} -> {loss:.4f}" in twice, twice
    confident = [float(v) for v in twice.splitlines()[1].split(":")[1].split(",")]
    assert max(abs(v) for v in confident) < 1e-11, confident


def test_ch04_jacobian_demo_agrees_with_central_differences():
    require_notebook(CH04)
    nb = executed(CH04)
    printed = text_of(cell_by_id(nb, "jacobian-demo"))
    assert float(re.search(r"relative error (\S+)", printed).group(1)) < 1e-7, printed
    assert "symmetric: True" in printed
    assert "the same vector-Jacobian products: True" in text_of(cell_by_id(nb, "vjp-check"))
    assert text_of(cell_by_id(nb, "vjp-check")).rstrip().endswith("True")
    assert text_of(cell_by_id(nb, "vjp-timing")).rstrip().endswith("the same result: True")


def test_ch04_jacobian_cost_for_fifty_thousand_classes_is_computed_and_stated_right():
    require_notebook(CH04)
    nb = executed(CH04)
    C, N = 50_000, 64
    printed = text_of(cell_by_id(nb, "vjp-cost"))
    assert f"Jacobian, one example: {C * C * 8:,} bytes = {C * C * 8 / 1e9:.0f} GB" in printed, printed
    assert f"Jacobians, the batch: {N * C * C * 8:,} bytes = {N * C * C * 8 / 1e12:.2f} TB" in printed, printed
    assert f"J.T @ g, one example: {2 * C * C:,} flops" in printed and f"{4 * C:,} flops" in printed, printed
    assert f"{3 * C * 8:,} bytes" in printed, printed
    assert C * C * 8 / 1e9 == 20 and "20 GB" in markdown_of(CH04, "summary")
    answer = markdown_of(CH04, "predict-cost-answer")
    assert f"{(2 * C) ** 2 * 8 / 1e9:.0f} GB per example" in answer, answer
    assert f"from {4 * C:,} to {4 * 2 * C:,} flops" in answer, answer
    check = text_of(cell_by_id(nb, "predict-cost-check"))
    assert f"formula {4 * 2 * C:,} flops" in check and f"Jacobian    {(2 * C) ** 2 * 8 / 1e9:.0f} GB" in check, check


def test_ch04_temperature_answer_matches_the_computation():
    require_notebook(CH04)
    from backprop import losses

    nb = executed(CH04)
    z = np.array([2.0, 1.0, 0.1, -1.0])
    assert f"{np.log(4):.3f}" == "1.386" and "1.386" in markdown_of(CH04, "predict-temperature-answer")
    printed = text_of(cell_by_id(nb, "predict-temperature-check"))
    for label in (0, 3):
        losses_t = [losses.softmax_cross_entropy((z / t)[None, :], np.array([label]))[0] for t in (0.05, 1.0, 1000.0)]
        assert f"label {label}: loss at T = 0.05, 1, 1000: " + ", ".join(f"{v:.4f}" for v in losses_t) in printed
        assert abs(losses_t[2] - np.log(4)) < 2e-3
    # With label 3, -log p3 is about (z0 - z3) / T = 3 / T for small T.
    assert abs(losses.softmax_cross_entropy((z / 0.05)[None, :], np.array([3]))[0] - 3 / 0.05) < 1e-3


def test_ch04_overfit_example_shows_the_reference_numbers_and_contradicts_the_source():
    require_notebook(CH04)
    from backprop import network

    nb = executed(CH04)
    run_short, run_long = worked_examples.softmax_overfit(), worked_examples.softmax_overfit(steps=3000)
    history = np.array(run_short["losses"])
    cell = cell_by_id(nb, "overfit-run")
    assert_printed(printed_numbers(cell), {"loss at step 1": history[0], "loss at step 200": history[-1],
                                           "loss at step 3000": run_long["losses"][-1]})
    rises = (np.flatnonzero(np.diff(history) > 0) + 1).tolist()
    assert rises and f"steps where the loss went up: {rises}" in text_of(cell)  # not monotonic
    right = int(np.sum(network.predict(run_long["trained"], run_long["X"]) == run_long["labels"]))
    assert right == 7 and "7 of 8" in text_of(cell)  # one point stays misclassified
    assert run_long["losses"][-1] > 0.2  # levels off well above zero
    assert any("image/png" in o.get("data", {}) for o in cell_by_id(nb, "overfit-figure").outputs)
    yours = re.search(r"your loss at step 200: (\S+);  the reference's: (\S+)", text_of(cell_by_id(nb, "overfit-yours")))
    assert yours and yours.group(1) == yours.group(2) == f"{history[-1]:.6f}"
    assert "Finish exercise 3" in text_of(cell_by_id(executed(CH04, student=True), "overfit-yours"))


def ch04_exploration() -> dict:
    return run_cells(CH04, ("setup", "explore-setup", "explore-widget"))


def test_ch04_exploration_draws_before_any_exercise_is_solved_and_follows_its_controls(capsys):
    require_notebook(CH04)
    from backprop import losses

    outputs = widget_outputs(executed(CH04, student=True))
    assert any("image/png" in o.get("data", {}) for o in outputs), "the exploration drew no figure"
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    z0 = np.array([2.0, 1.0, 0.1, -1.0])
    assert f"loss  = {losses.softmax_cross_entropy(z0[None, :], np.array([0]))[0]:.4f}" in printed, printed

    space = ch04_exploration()
    capsys.readouterr()
    shown = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(space["plt"], "show", lambda: None)
        for setting in [(2.0, 1.0, 0.1, -1.0, 1.0, 0), (2.0, 1.0, 0.1, -1.0, 10.0, 0), (2.0, 1.0, 0.1, -1.0, 1.0, 3),
                        (-5.0, 1.0, 0.1, 8.0, 1.0, 0)]:
            space["explore_softmax"](*setting)
            space["plt"].close("all")
            shown[setting] = capsys.readouterr().out
    assert len(set(shown.values())) == 4, shown  # each control changes what is shown
    for (a, b, c, d, t, label), out in shown.items():
        z = np.array([a, b, c, d])
        loss, dS = losses.softmax_cross_entropy((z / t)[None, :], np.array([label]))
        assert f"loss  = {loss:.4f}" in out, out
        total = float(re.search(r"sum of its entries = (\S+)", out).group(1))
        assert abs(total) < 1e-12, out
        numeric = np.array([(losses.softmax_cross_entropy(((z + h) / t)[None, :], np.array([label]))[0]
                             - losses.softmax_cross_entropy(((z - h) / t)[None, :], np.array([label]))[0]) / 2e-5
                            for h in 1e-5 * np.eye(4)])
        shown_grad = np.array([float(v) for v in re.search(r"dL/dz = \[([^\]]*)\]", out).group(1).split()])
        assert np.allclose(shown_grad, numeric, atol=1e-4), (shown_grad, numeric)  # the gradient of the logits z


# ---------------------------------------------------------------------------------------------
# ch05: checking gradients. The numbers it prints, its exploration, the bug hunt with the student's checker

CH05 = SOURCE / "ch05_gradient_checking" / "ch05_gradient_checking.ipynb"


def ch05_g(x):
    return np.exp(np.sin(x))


def ch05_g_prime(x):
    return np.cos(x) * np.exp(np.sin(x))


def test_ch05_differences_and_their_orders():
    require_notebook(CH05)
    nb = executed(CH05)
    f, f_prime, theta, h = (lambda t: t**3 + 2 * t), (lambda t: 3 * t**2 + 2), 2.0, 0.01
    one, central = (f(theta + h) - f(theta)) / h, (f(theta + h) - f(theta - h)) / (2 * h)
    assert_printed(printed_numbers(cell_by_id(nb, "cubic-example")), {
        "exact f'(2)": 14.0, "one-sided": one, "central": central, "one-sided error": one - 14.0,
        "central error": central - 14.0}, decimals=6)
    assert abs((one - 14.0) - (6 * h + h**2)) < 1e-9 and abs((central - 14.0) - h**2) < 1e-9  # the text's 6h + h^2, h^2
    h = 0.001
    assert_printed(printed_numbers(cell_by_id(nb, "predict-order-check")), {
        "one-sided error": (f(theta + h) - f(theta)) / h - 14.0, "central error": (f(theta + h) - f(theta - h)) / (2 * h) - 14.0},
        decimals=6)
    # The slopes of the log-log fit: about 1 and 2, recomputed here.
    steps = np.logspace(-4, -1, 13)
    slopes = [np.polyfit(np.log10(steps), np.log10(np.abs(e)), 1)[0] for e in (
        (ch05_g(1 + steps) - ch05_g(1.0)) / steps - ch05_g_prime(1.0),
        (ch05_g(1 + steps) - ch05_g(1 - steps)) / (2 * steps) - ch05_g_prime(1.0))]
    shown = printed_numbers(cell_by_id(nb, "orders-fit"))
    assert_printed(shown, {"one-sided slope": slopes[0], "central slope": slopes[1]}, decimals=3)
    assert abs(shown["one-sided slope"] - 1) < 0.05 and abs(shown["central slope"] - 2) < 0.05, shown


def ch05_exploration() -> dict:
    return run_cells(CH05, ("setup", "orders-fit", "explore-setup"))


def test_ch05_step_exploration_draws_before_any_exercise_and_moves_with_h(capsys):
    require_notebook(CH05)
    nb = executed(CH05, student=True)
    outputs = widget_outputs(nb)
    assert any("image/png" in o.get("data", {}) for o in outputs), "the exploration drew no figure"
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "float64 at h = 1.0e-05" in printed and "float32 at h = 1.0e-05" in printed, printed

    space = ch05_exploration()
    lines = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(space["plt"], "show", lambda: None)
        for log10_h in (-5.0, -10.0, -2.0):
            capsys.readouterr()
            space["show_step"](log10_h)
            space["plt"].close("all")
            lines[log10_h] = capsys.readouterr().out
    assert len(set(lines.values())) == 3, lines  # moving the slider changes what is printed
    row = r"float64 at h = \S+: one-sided error (\S+), central error (\S+);"
    for log10_h, text in lines.items():
        h = 10.0**log10_h
        one, central = (float(v) for v in re.search(row, text).groups())
        assert one == pytest.approx(abs((ch05_g(1 + h) - ch05_g(1.0)) / h - ch05_g_prime(1.0)), rel=0.06)
        assert central == pytest.approx(abs((ch05_g(1 + h) - ch05_g(1 - h)) / (2 * h) - ch05_g_prime(1.0)), rel=0.06)
    # The U: round-off wins at 1e-10, truncation at 1e-2, the default 1e-5 sits near the bottom.
    central = {k: float(re.search(row, t).group(2)) for k, t in lines.items()}
    assert central[-5.0] < 1e-9 < central[-10.0] and central[-5.0] < 1e-9 < central[-2.0], central
    best = [float(v) for v in re.findall(r"central (\d\S*)$", lines[-5.0], re.M)]
    assert 1e-7 < best[0] < 1e-4 and 1e-4 < best[1] < 1e-2, best  # float64, float32
    # The text's claims about float32: h = 1e-5 leaves an error near 1e-2; its best h is far larger than float64's.
    err32 = dict(re.findall(r"float32, h = (\S+): central error (\S+)", text_of(cell_by_id(executed(CH05), "predict-float32-check"))))
    assert 5e-3 < float(err32["1e-05"]) < 5e-2 and float(err32["1e-07"]) > float(err32["1e-05"]), err32


def test_ch05_relative_error_kink_and_group_numbers():
    require_notebook(CH05)
    from backprop import gradcheck as gc
    from backprop import layers, network

    nb = executed(CH05)
    printed = text_of(cell_by_id(nb, "predict-relative-check"))
    assert re.search(r"g against 2g:\s+0\.333333", printed) and re.search(r"g against -g:\s+1\.000000", printed), printed
    g = np.random.default_rng(0).standard_normal(10**6)
    wrong = g.copy()
    wrong[123] *= 1.01
    assert f"{gc.relative_error(g, wrong):.1e}" in printed
    kink = re.findall(r"numerical \[(.*?)\], analytic .*relative error (\S+)", text_of(cell_by_id(nb, "kink-demo")))
    assert [k[0].split()[-1] for k in kink] == ["0.65", "1."], kink
    assert float(kink[0][1]) > 1e-2 and float(kink[1][1]) < 1e-9, kink
    relu_sum = lambda v: float(np.sum(layers.relu_forward(v)[0]))
    z = np.array([0.7, -0.4, 3e-6])
    assert f"{gc.relative_error(gc.numerical_gradient(relu_sum, z.copy()), (z > 0).astype(float)):.1e}" == kink[0][1]
    assert "z = 0: central difference 0.5000" in text_of(cell_by_id(nb, "predict-kink-check"))
    assert "central difference 0.2500" in text_of(cell_by_id(nb, "predict-kink-check"))
    groups = text_of(cell_by_id(nb, "groups-demo")).splitlines()
    right = [float(v) for v in re.findall(r"'\w+': '(\S+?)'", groups[0])]
    wrong_b2 = dict(re.findall(r"'(\w+)': '(\S+?)'", groups[1]))
    assert len(right) == 4 and max(right) < 1e-7, groups
    assert float(wrong_b2["b2"]) == pytest.approx(0.6, abs=0.05) and float(wrong_b2["W1"]) < 1e-7, groups
    # The cost: 2P evaluations against 2.
    counts = printed_counts(cell_by_id(nb, "cost-count"))
    P = sum(v.size for v in network.init_params([10, 20, 1], seed=6, activation="tanh").values())
    assert counts["parameters"] == P and counts["loss evaluations, one group at a time"] == 2 * P, counts
    assert counts["loss evaluations, one random direction"] == 2, counts
    miss = text_of(cell_by_id(nb, "predict-miss-check"))
    assert re.search(r"directions above 1e-4:\s+\d+%", miss), miss


def test_ch05_bug_hunt_needs_the_checker_finds_w2_and_the_fix_passes():
    require_notebook(CH05)
    from backprop import gradcheck as gc
    from backprop import layers, losses, network

    nb = executed(CH05)
    verdicts = dict(re.findall(r"^(\w+): relative error \S+\s+(right|WRONG)$", text_of(cell_by_id(nb, "hunt-check")), re.M))
    assert verdicts == {"W1": "right", "b1": "right", "W2": "WRONG", "b2": "right", "W3": "right", "b3": "right"}
    assert "Finish exercise 3" in text_of(cell_by_id(executed(CH05, student=True), "hunt-check"))
    assert NEEDS_SOLUTIONS_TAG in cell_by_id(nbformat.read(CH05, as_version=4), "hunt-check").metadata.get("tags", [])
    # The collapsed answer's fix makes every group right, and the gradients the reference network's.
    source = cell_by_id(nbformat.read(CH05, as_version=4), "hunt-suspect").source
    fixed = source.replace("dW2 = dZ2.T @ A1", "dW2 = A1.T @ dZ2")
    assert fixed != source
    space = {"np": np, "layers": layers, "losses": losses, "refnet": network}
    exec(fixed, space)  # noqa: S102 - the notebook's own cell
    errors = gc.gradient_check(space["hunt_loss"], space["params_hunt"], space["hunt_grads"])
    assert max(errors.values()) < 1e-7, errors
    _, want = network.mlp_loss(space["params_hunt"], space["X_hunt"], space["y_hunt"], "tanh")
    assert all(np.allclose(space["hunt_grads"][k], want[k]) for k in want)


def test_ch05_a_wrong_checker_misses_the_bug():
    """The hunt works because the checker is right: a checker that nudges a copy loss_fn never reads flags everything."""
    require_notebook(CH05)
    from autograder.catalogue.gradient_checking import GC_VARIANTS
    from backprop import gradcheck as gc
    from backprop import layers, losses, network

    space = {"np": np, "layers": layers, "losses": losses, "refnet": network}
    exec(cell_by_id(nbformat.read(CH05, as_version=4), "hunt-suspect").source, space)  # noqa: S102
    blind = next(v for v in GC_VARIANTS if v.label == "nudges a copy that loss_fn never reads")
    checker = {"numerical_gradient": gc.numerical_gradient, "relative_error": gc.relative_error}
    exec(blind.code, checker)  # noqa: S102
    errors = checker["gradient_check"](space["hunt_loss"], space["params_hunt"], space["hunt_grads"])
    assert all(e == 1.0 for e in errors.values()), errors


# ---------------------------------------------------------------------------------------------
# ch06_memory_checkpointing: the numbers it shows, the seeds' examples, its exploration


CH06 = SOURCE / "ch06_memory_checkpointing" / "ch06_memory_checkpointing.ipynb"


def test_ch06_activation_memory_formula_nbytes_and_tracemalloc_agree():
    require_notebook(CH06)
    shown = printed_numbers(cell_by_id(executed(CH06), "memory-measured"))
    N, width, L = 256, 256, 64
    formula = 8 * N * width * L / 2**20
    parameters = 32 * (width * width + width) * 8 / 2**20
    assert shown["layers L"] == L
    assert_printed(shown, {"formula MiB": formula, "nbytes of the caches MiB": formula, "parameters MiB": parameters})
    assert abs(shown["tracemalloc over formula"] - 1) < 0.01, shown   # a few KiB of lists and tuples
    assert abs(shown["tracemalloc, caches made by the forward MiB"] - (formula - 0.5)) < 0.01 * formula, shown
    text = markdown_of(CH06, "memory-measured-notes")
    assert f"take {formula:.0f} MiB" in text and f"parameters ({parameters:.0f} MiB)" in text, text


def test_ch06_seed_examples_are_recomputed_and_the_text_quotes_the_computation():
    require_notebook(CH06)
    from backprop.checkpoint import checkpoint_plan, optimal_segment

    shown = printed_numbers(cell_by_id(executed(CH06), "seeds-recomputed"))
    floats, fmap = 32 * 256, 32 * 256 * 56 * 56
    kept50, _ = checkpoint_plan(50, 7)
    kept200, recomputed200 = checkpoint_plan(200, 14)
    kept16, recomputed16 = checkpoint_plan(16, 4)
    assert (optimal_segment(50), optimal_segment(200), optimal_segment(16)) == (7, 14, 4)
    assert_printed(shown, {
        "A: floats per layer": floats, "A: KiB per layer float32": 32, "A: MB for 50 layers float32": 50 * floats * 4 / 1e6,
        "A: MB for 50 layers float64": 50 * floats * 8 / 1e6, "A: million floats per conv layer": fmap / 1e6,
        "A: MB per conv layer float32": fmap * 4 / 1e6, "A: GB for 50 conv layers float32": 50 * fmap * 4 / 1e9,
        "A: k for 50 layers": 7, "A: layers kept with checkpointing": kept50,
        "A: GB kept with checkpointing float32": kept50 * fmap * 4 / 1e9,
        "B: k": 14, "B: checkpoints ceil(200 / k)": 15, "B: layers kept": kept200,
        "B: best over every integer k": min(-(-200 // j) + j for j in range(1, 201)), "B: layers recomputed": recomputed200,
        "C: k": 4, "C: layers kept": kept16, "C: layers recomputed": recomputed16,
    })
    # The seeds' slips: "about 100 MB" with checkpointing (it is 15 layers' worth), and "14 + 14 = 28" (it is 29).
    assert kept50 == 15 and kept50 * fmap * 4 / 1e9 > 1.5 and kept200 == 29 and recomputed200 == 196
    text = markdown_of(CH06, "seeds-verdict")
    for quoted in (f"{50 * floats * 4 / 1e6:.2f} MB", f"{fmap / 1e6:.1f} million", f"{fmap * 4 / 1e6:.0f} MB",
                   f"{50 * fmap * 4 / 1e9:.1f} GB", f"= {kept50}$ layers' worth", f"**{kept50 * fmap * 4 / 1e9:.1f} GB**",
                   f"**{kept200}**, not 28", f"{recomputed200} of the 200", f"{kept16} arrays instead of 16",
                   f"{recomputed16} recomputed"):
        assert quoted in text, quoted


def ch06_table(cell_id: str) -> list[list[str]]:
    lines = text_of(cell_by_id(executed(CH06), cell_id)).splitlines()[1:]
    return [line.split() for line in lines if line.strip()]


def test_ch06_reference_table_matches_the_formula_and_the_text():
    require_notebook(CH06)
    from backprop.checkpoint import checkpoint_plan

    rows = ch06_table("reference-demo")
    assert [int(row[0]) for row in rows] == [64, 16, 8, 4, 1]
    for k, kept, formula, recomputed, same in rows:
        assert float(kept) == int(formula) == checkpoint_plan(64, int(k))[0], (k, kept, formula)
        assert int(recomputed) == checkpoint_plan(64, int(k))[1] and same == "True"
    assert "holds 16 layers' activations instead of 65, for 56 extra layer forwards" in markdown_of(CH06, "reference-demo-notes")
    shown = re.findall(r"k = +(\d+): kept +([\d.]+) layers, recomputed (\d+)", text_of(cell_by_id(executed(CH06), "predict-k1-check")))
    assert [(int(k), float(m), int(r)) for k, m, r in shown] == [(1, 65.0, 63), (64, 65.0, 0), (2, 34.0, 62), (32, 34.0, 32)]
    answer = markdown_of(CH06, "predict-k1-answer")
    assert "= 34" in answer and "64 - 32 = 32" in answer and "64 - 2 = 62" in answer and "63 layer forwards" in answer


def ch06_explorer() -> dict:
    return run_cells(CH06, ("setup", "tradeoff-explorer", "tradeoff-widget"))


def test_ch06_exploration_moves_with_its_controls(capsys):
    require_notebook(CH06)
    import matplotlib.pyplot as plt
    from backprop.checkpoint import checkpoint_plan

    ns = ch06_explorer()
    lines = {}
    for L, k in ((64, 8), (64, 2), (100, 10), (16, 16)):
        capsys.readouterr()
        ns["explore_tradeoff"](L, k)
        plt.close("all")
        lines[L, k] = capsys.readouterr().out.strip().splitlines()[-1]
        kept, recomputed = checkpoint_plan(L, k)
        assert f"L = {L}, k = {k}: measured peak {float(kept):.1f} layers (formula {kept}), {recomputed} recomputed" in lines[L, k]
    assert len(set(lines.values())) == 4
    assert "memory 25% of plain backprop's" in lines[64, 8]
    # Moving L to 16 caps k at 16.
    ns["depth_slider"].value = 16
    assert ns["spacing_slider"].max == 16 and ns["spacing_slider"].value == 8
    ns["spacing_slider"].value = 16
    plt.close("all")
    default = text_of(cell_by_id(executed(CH06, student=True), "tradeoff-explorer"))
    assert "L = 64, k = 8: measured peak 16.0 layers (formula 16), 56 recomputed forwards" in default


def test_ch06_your_function_measured_with_the_solution_and_a_reminder_without():
    require_notebook(CH06)
    shown = re.findall(r"k = +(\d+): peak +([\d.]+) layers' activations \(the formula says (\d+) plus a few temporaries\), "
                       r"(\d+) layer forwards", text_of(cell_by_id(executed(CH06), "yours-measured")))
    (k8, peak8, formula8, forwards8), (k64, peak64, formula64, forwards64) = shown
    assert (k8, formula8, k64, formula64) == ("8", "16", "64", "65")
    assert float(peak8) < int(formula8) + 6 and float(peak64) >= 64, shown
    assert int(forwards8) <= 128 and int(forwards64) <= 128
    assert "Write checkpointed_backward" in text_of(cell_by_id(executed(CH06, student=True), "yours-measured"))
