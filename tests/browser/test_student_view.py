"""Every chapter as a student meets it: opened in JupyterLab in headless Chromium, run through the UI.

For each chapter, the source version (solved) and the student version (release/) are opened and
all their cells run through JupyterLab's own commands: "Run All Cells" for the source, and for the
student version each cell in turn, as a student goes on past a failing test. Then, in the page:
- the source version shows no error and nothing on stderr;
- every widget output is a live widget (no "Error displaying widget"), and moving each slider
  with the keyboard changes what the chapter's widget outputs show;
- every figure is a decoded image, never a "<Figure size ...>" placeholder;
- in the student version, each exercise's visible test fails with the course's one-line message
  naming the function, and nothing else fails (explorations work before any exercise is solved).
A screenshot of each notebook goes to out/browser/. The formgrader page lists the chapters.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT

CHAPTERS = sorted(p.parent.name for p in (ROOT / "source").glob("*/*.ipynb") if p.stem == p.parent.name)
RUN_TIMEOUT_S = 300
SLIDER_TIMEOUT_S = 20

# What the page knows about each code cell, read from JupyterLab's own notebook model.
CELLS_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.content.widgets.map((cell, index) => ({
    index,
    id: cell.model.id,
    type: cell.model.type,
    source: cell.model.sharedModel.getSource(),
    tags: cell.model.getMetadata('tags') || [],
    nbgrader: cell.model.getMetadata('nbgrader') || {},
    executionCount: cell.model.type === 'code' ? cell.model.executionCount : null,
    outputs: cell.model.type === 'code' ? cell.model.outputs.toJSON() : [],
  }));
}"""

RUN_JS = """async ([command, index, timeoutMs]) => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  if (index !== null) { panel.content.activeCellIndex = index; }
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('still running after ' + timeoutMs + ' ms')), timeoutMs));
  await Promise.race([app.commands.execute(command), timeout]);
  await Promise.race([(async () => { while (panel.sessionContext.session.kernel.status !== 'idle') {
    await new Promise(r => setTimeout(r, 100)); } })(), timeout]);
}"""

KERNEL_IDLE_JS = "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'"

WIDGET_OUTPUTS_JS = """() => Array.from(document.querySelectorAll('.jp-Notebook .widget-output'))
  .map(node => node.innerHTML).join('\\n')"""


def open_notebook(browser, lab, path: str):
    """A new page with the notebook open in a fresh workspace and its kernel idle."""
    page = browser.new_page()
    page.goto(lab.page_url(f"lab/tree/{path}") + "&reset")
    page.wait_for_function("window.jupyterapp?.shell?.currentWidget?.context?.isReady === true && "
                           "window.jupyterapp.shell.currentWidget.sessionContext?.session?.kernel?.status === 'idle'",
                           timeout=90_000)
    return page


def run_through_ui(page, student: bool) -> list[dict]:
    """The source version: Run All Cells. The student version: each cell in turn (Run Selected Cell, as a
    student goes on past a failing test). Returns what the page knows of the cells."""
    if not student:
        page.evaluate(RUN_JS, ["notebook:run-all-cells", None, RUN_TIMEOUT_S * 1000])
        return page.evaluate(CELLS_JS)
    cells = page.evaluate(CELLS_JS)
    for cell in cells:
        if cell["type"] != "code" or not cell["source"].strip():
            continue
        for attempt in range(5):
            page.evaluate(RUN_JS, ["notebook:run-cell", cell["index"], RUN_TIMEOUT_S * 1000])
            if page.evaluate(f"() => window.jupyterapp.shell.currentWidget.content.widgets[{cell['index']}]"
                             ".model.executionCount") is not None:
                break
            page.wait_for_timeout(500 * (attempt + 1))  # the kernel was still aborting after an error
        else:
            raise AssertionError(f"cell {cell['id']!r} never ran: the kernel kept aborting it")
    return page.evaluate(CELLS_JS)


def is_visible_test(cell: dict) -> bool:
    grading = cell["nbgrader"]
    return grading.get("locked", False) and not grading.get("grade", False) and "check(" in cell["source"]


def problems_with_widgets(page) -> list[str]:
    views = page.locator('.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.widget-view+json"]')
    problems = []
    for i in range(views.count()):
        view = views.nth(i)
        text = view.inner_text()
        if "Error displaying widget" in text or "Loading widget" in text or view.locator(".jupyter-widgets").count() == 0:
            problems.append(f"widget output {i + 1} is not a live widget: {text.strip()[:200]!r}")
    return problems


def sliders_that_do_not_react(page) -> list[str]:
    """Move each slider one step with the keyboard; name those after which no widget output changed (or
    a figure went missing) once the kernel is idle again."""
    handles = page.locator(".jp-Notebook .widget-slider .noUi-handle")
    dead = []
    for i in range(handles.count()):
        handle = handles.nth(i)
        label = handle.locator("xpath=ancestor::div[contains(@class, 'widget-slider')][1]//label").inner_text()
        before = page.evaluate(WIDGET_OUTPUTS_JS)
        handle.scroll_into_view_if_needed()
        handle.focus()
        at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
        page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
        name = f"slider {i + 1} ({label.strip() or 'no label'})"
        try:
            page.wait_for_function(f"(before) => ({WIDGET_OUTPUTS_JS})() !== before", arg=before,
                                   timeout=SLIDER_TIMEOUT_S * 1000)
            page.wait_for_function(KERNEL_IDLE_JS, timeout=SLIDER_TIMEOUT_S * 1000)  # the redraw has finished
        except Exception:  # noqa: BLE001 - Playwright's timeout: this slider changed nothing
            dead.append(f"{name} changed no output")
            continue
        after = page.evaluate(WIDGET_OUTPUTS_JS)
        if after == before:
            dead.append(f"{name} changed no output once redrawn")
        elif after.count("<img") < before.count("<img"):
            dead.append(f"{name} left {after.count('<img')} figures where there were {before.count('<img')}")
    return dead


def problems_with_figures(page, cells: list[dict]) -> list[str]:
    problems = []
    for cell in cells:
        for output in cell["outputs"]:
            data = output.get("data", {})
            if str(data.get("text/plain", "")).startswith("<Figure size") and "image/png" not in data:
                problems.append(f"cell {cell['id']!r} shows a figure as text, not an image")
    images = page.locator(".jp-Notebook .jp-OutputArea-output img")
    undecoded = page.evaluate("""() => Array.from(document.querySelectorAll('.jp-Notebook .jp-OutputArea-output img'))
                                  .filter(img => !(img.complete && img.naturalWidth > 0)).length""")
    if undecoded:
        problems.append(f"{undecoded} of {images.count()} images did not load")
    expected = sum("image/png" in o.get("data", {}) for c in cells for o in c["outputs"])
    if images.count() < expected:
        problems.append(f"{expected} figures in the outputs, {images.count()} images on the page")
    return problems


def error_text(page, index: int) -> str:
    """What the page shows of a cell's errors and stderr."""
    return page.evaluate("""(index) => Array.from(window.jupyterapp.shell.currentWidget.content.widgets[index].node
        .querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
        .map(node => node.innerText).join('\\n')""", index).strip()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_source_version_runs_clean_with_live_widgets_and_figures(browser, lab, screenshots, chapter):
    page = open_notebook(browser, lab, f"source/{chapter}/{chapter}.ipynb")
    try:
        cells = run_through_ui(page, student=False)
        problems = [f"cell {c['id']!r} did not run" for c in cells
                    if c["type"] == "code" and c["source"].strip() and c["executionCount"] is None]
        for cell in cells:
            for output in cell["outputs"]:
                if output["output_type"] == "error":
                    problems.append(f"cell {cell['id']!r}: {output['ename']}: {output['evalue']}")
                elif output["output_type"] == "stream" and output["name"] == "stderr":
                    problems.append(f"cell {cell['id']!r} wrote to stderr: {output['text'][:200]!r}")
        problems += problems_with_widgets(page) + problems_with_figures(page, cells)
        assert page.locator(".jp-Notebook .widget-slider").count(), "the chapter has no slider to explore with"
        problems += sliders_that_do_not_react(page)
        page.screenshot(path=str(screenshots / f"{chapter}-source.png"))
        assert not problems, "\n".join(problems)
    finally:
        page.close()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_version_fails_each_exercise_with_the_course_message(browser, lab, screenshots, chapter):
    page = open_notebook(browser, lab, f"release/{chapter}/{chapter}.ipynb")
    try:
        cells = run_through_ui(page, student=True)
        problems = []
        visible_tests = [c for c in cells if is_visible_test(c)]
        assert visible_tests, "the student version has no visible test"
        for cell in cells:
            errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
            if is_visible_test(cell):
                name = re.search(r"""check\(\s*["'](\w+)["']""", cell["source"]).group(1)
                if not errors:
                    problems.append(f"visible test {cell['id']!r} passed on an unsolved notebook")
                    continue
                shown = error_text(page, cell["index"])
                if "Traceback" in shown or 'File "' in shown or len(shown.splitlines()) > 3:
                    problems.append(f"visible test {cell['id']!r} shows a traceback, not the course's message:\n{shown[:600]}")
                elif not shown.startswith("CheckFailed: ") or name not in shown:
                    problems.append(f"visible test {cell['id']!r} does not name {name}: {shown[:300]!r}")
            elif errors and "needs-solutions" not in cell["tags"]:
                problems.append(f"cell {cell['id']!r} fails before any exercise is solved: "
                                f"{errors[0]['ename']}: {errors[0]['evalue'][:200]}")
        problems += problems_with_widgets(page) + problems_with_figures(page, cells)
        problems += sliders_that_do_not_react(page)
        page.screenshot(path=str(screenshots / f"{chapter}-student.png"))
        assert not problems, "\n".join(problems)
    finally:
        page.close()


def test_formgrader_lists_the_chapters(browser, lab, screenshots):
    page = browser.new_page()
    try:
        page.goto(lab.page_url("formgrader"))
        for chapter in CHAPTERS:
            page.get_by_text(chapter, exact=True).first.wait_for(timeout=60_000)
        page.screenshot(path=str(screenshots / "formgrader.png"))
    finally:
        page.close()


def test_there_is_a_chapter_to_open():
    assert CHAPTERS and all(isinstance(c, str) for c in CHAPTERS)
    assert Path(ROOT / "release" / CHAPTERS[0] / f"{CHAPTERS[0]}.ipynb").is_file()
