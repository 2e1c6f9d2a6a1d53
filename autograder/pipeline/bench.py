"""`python -m autograder.pipeline.bench`: `bpcourse grade --jobs 2` against serial `nbgrader autograde`.

The course's targets: on a 2-core machine, grading 100 submissions of one chapter with
`bpcourse grade --jobs 2` runs at least 3 times the throughput of serial `nbgrader autograde` on
the same submissions, measured side by side in one run, with identical scores; and grading them on
a two-worker LocalCluster (`--cluster local --jobs 2`) takes at most 15% longer than `--jobs 2`.

Each side is the command an instructor types (`nbgrader autograde CHAPTER`, which grades every
submission in one process, `bpcourse grade CHAPTER --jobs N --no-progress`, the same with
`--figures`, which draws the notebooks' figures as nbgrader does instead of describing each in one
line, and with `--cluster local`, which starts its cluster inside the timed command), each run in its
own copy of one scratch course with a fresh gradebook made by `release`, and timed around the
subprocess (start-up included). The class cycles through the demo class of chapter 1 without its
endless loop, so the comparison measures throughput rather than timeouts. Scores are then read
from the gradebooks with nbgrader's API and compared, student by student and cell by cell.

This is a benchmark, not a test: the machine is shared and its speed drifts, so quote the ratio
of times taken in one run, never an absolute time.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.pipeline.course import STATE_DIRS, check_course

CHAPTER = "ch01_chain_rule"
TARGET = 3.0
CLUSTER_OVERHEAD_TARGET = 0.15  # the cluster path may take at most this much longer than --jobs
LEFT_OUT = ("loops-forever",)  # a timeout measures the time limit, not throughput


def build_class(course_root: Path, base: Path, submissions: int, chapter: str = CHAPTER) -> list[str]:
    """A scratch course at `base`: the course's config and chapter, released, and `submissions`
    notebooks in submitted/ cycling through the demo class. Returns the student ids."""
    from autograder.pipeline.demo import demo_class
    from autograder.pipeline.release import released_copy

    released_copy(course_root, chapter, base, gradebook=False)
    catalogue = [(name, nb) for name, nb in demo_class(base, chapter).items() if name not in LEFT_OUT]
    students = []
    for number in range(submissions):
        name, nb = catalogue[number % len(catalogue)]
        student = f"b{number:03d}-{name}"
        folder = base / "submitted" / student / chapter
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{chapter}.ipynb")
        students.append(student)
    return students


def side_course(base: Path, where: Path, chapter: str = CHAPTER) -> Path:
    """A copy of the scratch course with a fresh gradebook, made by `release` as an instructor would."""
    from autograder.pipeline.release import release

    shutil.copytree(base, where, ignore=shutil.ignore_patterns("gradebook.db", "autograded", "feedback", ".jupyter"))
    release(where, [chapter])
    return where


def environment(course: Path) -> dict[str, str]:
    """The environment both commands run in: Jupyter state inside `course`, this venv's bin on PATH."""
    env = dict(os.environ)
    for variable, folder in STATE_DIRS.items():
        env[variable] = str(course / ".jupyter" / folder)
        Path(env[variable]).mkdir(parents=True, exist_ok=True)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["MPLBACKEND"] = "Agg"
    env.pop("BPCOURSE_DEBUG", None)
    return env


def timed(command: list[str], course: Path, log: Path) -> float:
    """Wall seconds of one command run in `course`; its output goes to `log`. Raises if it fails."""
    with log.open("w") as out:
        start = time.perf_counter()
        run = subprocess.run(command, cwd=course, env=environment(course), stdout=out, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - start
    if run.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(command)} failed (exit {run.returncode}); end of {log}:\n{tail}")
    return seconds


def scores(course: Path, chapter: str, students: list[str]) -> dict[str, dict]:
    """Each student's total and per-cell scores, read from the course's gradebook with nbgrader's API."""
    from nbgrader.api import Gradebook, MissingEntry

    found: dict[str, dict] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "backprop") as gb:
        for student in students:
            try:
                submission = gb.find_submission(chapter, student)
            except MissingEntry:
                found[student] = {"score": None, "cells": {}}
                continue
            cells = {g.name: g.score for nb in submission.notebooks for g in nb.grades}
            found[student] = {"score": submission.score, "max_score": submission.max_score, "cells": cells}
    return found


def stalls(course: Path, chapter: str, students: list[str], threshold: float = 10.0) -> dict[str, float]:
    """Student -> seconds lost between two cells (kernel idle, client not yet on to the next cell).

    Read from nbclient's timing metadata in the autograded notebooks. A gap this long is nbclient
    waiting out a cell's timeout for a reply that had already arrived (see execution.py); it is
    reported, never subtracted from a time.
    """
    from datetime import datetime

    def when(stamp: str) -> float:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()

    found = {}
    for student in students:
        path = course / "autograded" / student / chapter / f"{chapter}.ipynb"
        try:
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError):
            continue
        times = [c["metadata"]["execution"] for c in cells
                 if c.get("cell_type") == "code" and "execution" in c.get("metadata", {})]
        lost = 0.0
        for before, after in zip(times, times[1:]):
            try:
                gap = when(after["iopub.status.busy"]) - when(before["iopub.status.idle"])
            except KeyError:
                continue
            lost += gap if gap >= threshold else 0.0
        if lost:
            found[student] = round(lost, 1)
    return found


def report(result: dict) -> str:
    n, plain, ours = result["submissions"], result["nbgrader_seconds"], result["bpcourse_seconds"]
    ratio = result["ratio"]
    verdict = "meets" if ratio >= TARGET else "below"
    differ = result["scores_differ"]
    lines = [
        f"grading {n} submissions of {result['chapter']} on {result['cpus']} CPU(s), one run, side by side",
        f"  nbgrader autograde (serial):        {plain:7.1f} s   {plain / n:5.2f} s/submission",
        f"  bpcourse grade --jobs {result['jobs']}:          {ours:7.1f} s   {ours / n:5.2f} s/submission",
        f"  ratio (nbgrader / bpcourse):        {ratio:7.2f}   target >= {TARGET:g}: {verdict}",
        *([f"  of nbgrader's time, {sum(result['nbgrader_stalls'].values()):.0f} s went to {len(result['nbgrader_stalls'])} "
           f"stalled cell(s) (nbclient waiting out its 30 s timeout); without them the ratio would be "
           f"{result['ratio_without_nbgrader_stalls']:.2f}"] if result["nbgrader_stalls"] else []),
        f"  bpcourse grade --jobs {result['jobs']} --figures:  {result['bpcourse_figures_seconds']:7.1f} s   "
        f"{result['bpcourse_figures_seconds'] / n:5.2f} s/submission   ratio {result['ratio_with_figures']:.2f}"
        + (f" ({result['ratio_with_figures_without_nbgrader_stalls']:.2f} without nbgrader's stalls)"
           if result["nbgrader_stalls"] else "") + " (figures drawn, as nbgrader draws them)",
        f"  bpcourse grade --jobs {result['jobs']} --cluster local: {result['cluster_seconds']:6.1f} s   "
        f"{result['cluster_seconds'] / n:5.2f} s/submission",
        f"  cluster overhead (vs --jobs {result['jobs']}):    {100 * result['cluster_overhead']:+6.1f} %   target <= "
        f"{100 * CLUSTER_OVERHEAD_TARGET:g} %: {'meets' if result['cluster_overhead'] <= CLUSTER_OVERHEAD_TARGET else 'above'}",
        f"  scores identical: {'yes' if not differ else 'no'} ({len(differ)} differ)"
        + (f": {', '.join(differ[:5])}{' ...' if len(differ) > 5 else ''}" if differ else ""),
        f"  mean score {result['mean_score']:.3f} of {result['max_score']:g}; "
        f"{result['full_marks']} with full marks, {result['zero']} with zero",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=100, help="submissions to grade (default 100)")
    parser.add_argument("--jobs", type=int, default=2, help="bpcourse grade --jobs (default 2)")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="build the scratch courses in DIR and keep them (default: a temporary folder)")
    parser.add_argument("--course", type=Path, default=Path("."), help="the course folder (default: here)")
    parser.add_argument("--json", type=Path, default=Path("out/bench/grading.json"),
                        help="where to write the numbers (default out/bench/grading.json; the report goes beside it)")
    args = parser.parse_args(argv)
    course = check_course(args.course)
    if args.keep is not None:
        if args.keep.exists():
            shutil.rmtree(args.keep)
        args.keep.mkdir(parents=True)
        work = args.keep.resolve()
    else:
        work = Path(tempfile.mkdtemp(prefix="bpcourse-bench-"))
    try:
        os.environ.update({k: v for k, v in environment(work).items() if k != "PATH"})  # release's own imports
        students = build_class(course, work / "class", args.submissions)
        plain = side_course(work / "class", work / "nbgrader")
        ours = side_course(work / "class", work / "bpcourse")
        drawn = side_course(work / "class", work / "figures")
        on_cluster = side_course(work / "class", work / "cluster")
        print(f"{len(students)} submissions of {CHAPTER} written; grading with each side in turn ...", flush=True)
        plain_s = timed([str(Path(sys.executable).parent / "nbgrader"), "autograde", CHAPTER], plain, work / "nbgrader.log")

        def bpcourse_grade(*options: str) -> list[str]:
            return [str(Path(sys.executable).parent / "bpcourse"), "grade", CHAPTER, "--jobs", str(args.jobs),
                    *options, "--no-progress"]

        ours_s = timed(bpcourse_grade(), ours, work / "bpcourse.log")
        drawn_s = timed(bpcourse_grade("--figures"), drawn, work / "figures.log")
        cluster_s = timed(bpcourse_grade("--cluster", "local"), on_cluster, work / "cluster.log")
        plain_scores, our_scores = scores(plain, CHAPTER, students), scores(ours, CHAPTER, students)
        cluster_scores, drawn_scores = scores(on_cluster, CHAPTER, students), scores(drawn, CHAPTER, students)
        differ = [s for s in students if not plain_scores[s] == our_scores[s] == cluster_scores[s] == drawn_scores[s]]
        totals = [plain_scores[s]["score"] for s in students if plain_scores[s]["score"] is not None]
        max_score = max((plain_scores[s].get("max_score", 0) for s in students), default=0)
        plain_stalls = stalls(plain, CHAPTER, students)
        plain_unstalled_s = plain_s - sum(plain_stalls.values())
        result = {
            "chapter": CHAPTER, "submissions": len(students), "jobs": args.jobs, "cpus": os.cpu_count(),
            "machine": platform.platform(), "nbgrader_seconds": round(plain_s, 2), "bpcourse_seconds": round(ours_s, 2),
            "nbgrader_per_submission": round(plain_s / len(students), 3),
            "bpcourse_per_submission": round(ours_s / len(students), 3),
            "ratio": round(plain_s / ours_s, 3), "target": TARGET, "meets_target": plain_s / ours_s >= TARGET,
            "nbgrader_stalls": plain_stalls, "bpcourse_stalls": stalls(ours, CHAPTER, students),
            "ratio_without_nbgrader_stalls": round(plain_unstalled_s / ours_s, 3),
            "bpcourse_figures_seconds": round(drawn_s, 2), "ratio_with_figures": round(plain_s / drawn_s, 3),
            "ratio_with_figures_without_nbgrader_stalls": round(plain_unstalled_s / drawn_s, 3),
            "cluster_seconds": round(cluster_s, 2), "cluster_overhead": round(cluster_s / ours_s - 1, 3),
            "cluster_overhead_target": CLUSTER_OVERHEAD_TARGET,
            "scores_identical": not differ, "scores_differ": differ,
            "ungraded_by_nbgrader": [s for s in students if plain_scores[s]["score"] is None],
            "mean_score": sum(totals) / len(totals) if totals else 0.0, "max_score": max_score,
            "full_marks": sum(t == max_score for t in totals), "zero": sum(t == 0 for t in totals),
        }
        text = report(result)
        print(text)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        args.json.with_suffix(".txt").write_text(text + "\n")
        print(f"numbers in {args.json}")
        return 0 if not differ else 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
