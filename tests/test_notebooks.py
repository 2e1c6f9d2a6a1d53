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
the numbers the ch01 notebook prints are pinned to the reference package's worked examples.
"""
from __future__ import annotations

import ast
import copy
import os
import re
from functools import cache
from pathlib import Path

import nbformat
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
        "sigmoid_backward", "tanh_forward", "tanh_backward", "two_layer_loss", "mlp_loss",
    ),
    "ch04_softmax_cross_entropy": ("softmax", "log_softmax", "softmax_cross_entropy", "softmax_jacobian"),
    "ch05_gradient_checking": ("numerical_gradient", "relative_error", "gradient_check", "directional_check"),
    "ch06_memory_checkpointing": (),
}

CH01 = SOURCE / "ch01_chain_rule" / "ch01_chain_rule.ipynb"


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
    notebook_format = pytest.importorskip("autograder.pipeline.notebook_format")
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


def test_ch01_blank_student_version_fails_its_visible_tests():
    nb = executed(CH01, student=True)
    for name in GRADED["ch01_chain_rule"]:
        cell = cell_by_id(nb, name.replace("_", "-") + "-tests")
        assert any(o.output_type == "error" for o in cell.outputs), f"{name}'s visible tests pass on a blank"


def test_ch01_answers_are_collapsed():
    nb = nbformat.read(CH01, as_version=4)
    answers = [cell for cell in nb.cells if cell.id.endswith("-answer")]
    assert len(answers) >= 4
    for cell in answers:
        assert cell.cell_type == "markdown" and cell.metadata.get("jupyter", {}).get("source_hidden") is True, cell.id
