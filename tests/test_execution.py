"""BudgetedExecute's output cap: streams past the cap are dropped with one note; results and errors never are."""
from __future__ import annotations

from autograder.pipeline.execution import OUTPUT_CUT, BudgetedExecute


def message(msg_type: str, **content) -> dict:
    return {"msg_type": msg_type, "parent_header": {"msg_id": "m"}, "header": {"msg_type": msg_type},
            "content": content, "buffers": []}


def stream(text: str) -> dict:
    return message("stream", name="stdout", text=text)


def budgeted(cap: int) -> BudgetedExecute:
    run = BudgetedExecute(max_cell_output_bytes=cap)
    run.reset_execution_trackers()  # what nbclient does before running a notebook,
    run.clear_before_next_output = False  # and before running a cell
    return run


def test_a_cell_keeps_its_output_up_to_the_cap_then_one_note():
    run = budgeted(100)
    outs: list = []
    for _ in range(3):
        run.output(outs, stream("x" * 40), None, 0)
    assert [o.text for o in outs[:2]] == ["x" * 40, "x" * 40]
    assert len(outs) == 3 and outs[2].text.strip().startswith(OUTPUT_CUT)
    run.output(outs, stream("more"), None, 0)
    assert len(outs) == 3  # one note, however much more comes
    other: list = []  # cells are counted apart
    run.output(other, stream("another cell"), None, 1)
    assert [o.text for o in other] == ["another cell"]


def test_errors_and_results_past_the_cap_are_kept_and_a_long_result_is_shortened():
    run = budgeted(10)
    outs: list = []
    run.output(outs, stream("y" * 50), None, 0)
    run.output(outs, message("error", ename="ValueError", evalue="bad", traceback=["ValueError: bad"]), None, 0)
    run.output(outs, message("execute_result", execution_count=1, metadata={},
                             data={"text/plain": "0.5" + " " * 5000, "text/html": "<b>big</b>" * 1000}), None, 0)
    kinds = [o.output_type for o in outs]
    assert kinds == ["stream", "error", "execute_result"]  # the first stream already passed the cap: its note only
    assert outs[0].text.strip().startswith(OUTPUT_CUT)
    assert outs[2].data == {"text/plain": ("0.5" + " " * 5000)[:1000]}


def test_what_a_cell_clears_no_longer_counts():
    run = budgeted(100)
    outs: list = []
    for _ in range(5):  # an animation: each frame replaces the last
        run.clear_output(outs, message("clear_output", wait=False), 0)
        run.output(outs, stream("f" * 60), None, 0)
    assert [o.text for o in outs] == ["f" * 60]
