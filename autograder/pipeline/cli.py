"""`bpcourse`: the instructor's command. Subcommands are added as the pipeline grows.

Each subcommand is a `_add_<name>(subparsers)` function that registers its parser and sets
`func` (called with the parsed arguments, returns the exit code) via `set_defaults`.

- `bpcourse release [CHAPTER ...] [--course DIR]`: regenerate release/<chapter>/ through nbgrader
  (all chapters when none is named); one line per chapter; exit 1 on a bad chapter or notebook.
- `bpcourse validate [CHAPTER ...] [--course DIR] [--fix]`: the problems of each source notebook
  (exit 1 if any); `--fix` first repairs cell ids, outputs and volatile metadata in place.
- `bpcourse grade CHAPTER [--jobs N] [--time-limit S] [--memory-mb M] [--processes N] [--figures] [--cluster ADDRESS]`:
  autograde submitted/ in parallel through nbgrader (on a Dask cluster with --cluster); a table of scores and statuses.
- `bpcourse feedback CHAPTER`: HTML feedback per student, hidden tests' source left out.
- `bpcourse export [-o FILE] [--format csv|json]`: one row per student and chapter, with status.
- `bpcourse check [CHAPTER ...]`: prove the course grades right before releasing it (a table).
- `bpcourse demo`: release, then grade the bundled demo class in out/demo/ and print the gradebook.
- `bpcourse gradescope CHAPTER [-o DIR]`: a Gradescope autograder bundle that grades as `grade` does.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _add_course_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course", type=Path, default=Path("."), metavar="DIR",
                        help="the course folder (holds nbgrader_config.py and source/); default: the current folder")


def _add_chapters_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("chapters", nargs="*", metavar="CHAPTER",
                        help="chapter names (source/<CHAPTER>/<CHAPTER>.ipynb); default: every chapter")


def _run_release(args: argparse.Namespace) -> int:
    from autograder.pipeline import release as rel

    root = rel.check_course(args.course)
    paths = rel.release(root, args.chapters or None)
    by_chapter: dict[str, list[Path]] = {}
    for path in paths:
        by_chapter.setdefault(path.relative_to(root / "release").parts[0], []).append(path.relative_to(root))
    if not by_chapter:
        print("nothing to release: source/ holds no <chapter>/<chapter>.ipynb yet", file=sys.stderr)
    for chapter, files in by_chapter.items():
        notebooks = [f for f in files if f.suffix == ".ipynb"]
        others = len(files) - len(notebooks)
        print(f"{chapter}: {', '.join(f.as_posix() for f in notebooks)}" + (f" (+{others} other file(s))" if others else ""))
    return 0


def _add_release(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("release", help="regenerate the student versions in release/ through nbgrader",
                                   description="Regenerate release/<chapter>/ from source/<chapter>/ with nbgrader "
                                               "(refuses if a source notebook has problems; see `bpcourse validate`).")
    _add_chapters_argument(parser)
    _add_course_argument(parser)
    parser.set_defaults(func=_run_release)


def _run_validate(args: argparse.Namespace) -> int:
    from autograder.pipeline import notebook_format as fmt
    from autograder.pipeline import release as rel

    root = rel.check_course(args.course)
    chapters = args.chapters or None
    if args.fix:
        for notebook in rel.source_problems(root, chapters):
            try:
                changes = fmt.fix_source(notebook)
            except ValueError as err:  # not a notebook, or not nbformat 4: reported below
                changes = [f"cannot fix: {err}"]
            if changes:
                print(f"fixed {notebook.relative_to(root).as_posix()}: {'; '.join(changes)}")
    problems = rel.source_problems(root, chapters)
    if not problems:
        print("nothing to validate: source/ holds no <chapter>/<chapter>.ipynb yet", file=sys.stderr)
    for notebook, found in problems.items():
        print(f"{notebook.relative_to(root).as_posix()}: " + (f"{len(found)} problem(s)" if found else "ok"))
        for problem in found:
            print(f"  - {problem}")
    return 1 if any(problems.values()) else 0


def _add_validate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("validate", help="check the source notebooks (format, nbgrader metadata, markers)",
                                   description="Print the problems of each source notebook; exit 1 if there are any.")
    _add_chapters_argument(parser)
    _add_course_argument(parser)
    parser.add_argument("--fix", action="store_true",
                        help="first repair what can be repaired in place: cell ids, outputs, volatile metadata")
    parser.set_defaults(func=_run_validate)


def _run_grade(args: argparse.Namespace) -> int:
    from autograder.pipeline.grade import Limits, grade, isolation_problem, summary

    limits = Limits(seconds=args.time_limit, memory_mb=args.memory_mb, cell_seconds=args.cell_time_limit,
                    processes=args.processes, figures=args.figures)
    if isolation_problem() is not None and args.cluster in (None, "local"):  # a remote cluster's workers report their own
        print(f"note: student code runs without a jail here ({isolation_problem()}): it could read the course "
              "folder, and the process cap is not applied (see the README)", file=sys.stderr)
    outcomes = grade(args.course, args.chapter, jobs=args.jobs, limits=limits, progress=not args.no_progress,
                     cluster=args.cluster)
    print(summary(outcomes))
    return 0


def _add_grade(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "grade", help="autograde every submission of a chapter through nbgrader, in parallel, with limits",
        description="Autograde submitted/<student>/<CHAPTER>/ for every student. Each submission runs in its own "
                    "process and scratch folder, under a time limit for the whole notebook and a memory cap; one "
                    "that loops, crashes or is no notebook still gets a row and a status.")
    parser.add_argument("chapter", metavar="CHAPTER")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded at once (default: CPUs)")
    parser.add_argument("--time-limit", type=float, default=120.0, metavar="S", help="seconds per submission (120)")
    parser.add_argument("--cell-time-limit", type=int, default=60, metavar="S", help="seconds per cell (60)")
    parser.add_argument("--memory-mb", type=int, default=2048, metavar="M", help="kernel memory cap in MiB (2048)")
    parser.add_argument("--processes", type=int, default=64, metavar="N",
                        help="processes and threads a kernel may have at once (64; needs the jail: Linux, as root)")
    parser.add_argument("--figures", action="store_true",
                        help="draw the notebooks' figures into the graded notebooks and feedback, as nbgrader does "
                             "(slower; by default each figure is shown as one line of text)")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="grade on a Dask cluster: a scheduler address (tcp://host:8786), or 'local' for a "
                             "cluster of --jobs worker processes on this machine (see the README)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_course_argument(parser)
    parser.set_defaults(func=_run_grade)


def _run_feedback(args: argparse.Namespace) -> int:
    from autograder.pipeline.feedback import feedback

    pages = feedback(args.course, args.chapter)
    root = Path(args.course).resolve()
    print(f"{len(pages)} feedback page(s) in {(root / 'feedback').relative_to(root)}/<student>/{args.chapter}/")
    return 0


def _add_feedback(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("feedback", help="HTML feedback per student, without the hidden tests' source",
                                   description="Write feedback/<student>/<CHAPTER>/<notebook>.html for every graded "
                                               "submission: each test's output and points, never a hidden test.")
    parser.add_argument("chapter", metavar="CHAPTER")
    _add_course_argument(parser)
    parser.set_defaults(func=_run_feedback)


def _run_export(args: argparse.Namespace) -> int:
    import json

    from autograder.pipeline.export import export_rows, to_csv

    rows = export_rows(args.course)
    text = to_csv(rows) if args.format == "csv" else json.dumps(rows, indent=1) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"{len(rows)} row(s) written to {args.output}")
    return 0


def _add_export(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="the gradebook: one row per student and chapter, with status",
                                   description="Scores from nbgrader's gradebook and each submission's grading status.")
    parser.add_argument("-o", "--output", default="grades.csv", help="file to write, or - for standard output")
    parser.add_argument("--format", choices=("csv", "json"), default="csv")
    _add_course_argument(parser)
    parser.set_defaults(func=_run_export)


def _run_check(args: argparse.Namespace) -> int:
    from autograder.pipeline.check import check, table

    rows = check(args.course, args.chapters or None, jobs=args.jobs)
    print(table(rows))
    return 0 if all(row.ok for row in rows) else 1


def _add_check(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check", help="prove the course grades right: full marks for solutions, zero for blanks, mistakes caught",
        description="For each chapter: the source is well-formed and its release current and clean; the solved "
                    "source earns full marks and the untouched student version zero through the real grading "
                    "pipeline; every catalogued submission gets its verdict. Exit 1 if anything fails.")
    _add_chapters_argument(parser)
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded at once (default 2)")
    _add_course_argument(parser)
    parser.set_defaults(func=_run_check)


def _run_demo(args: argparse.Namespace) -> int:
    from autograder.pipeline.demo import run

    run(args.course, args.out, jobs=args.jobs)
    return 0


def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="release the course, then grade the bundled demo class in out/demo/",
                                   description="Regenerate the student versions, build the demo class of chapter 1 "
                                               "(correct answers written differently, every catalogued mistake, an "
                                               "unsolved notebook, one that raises, one that loops) in a copy of the "
                                               "course, grade it, write feedback and the gradebook, print it.")
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="where the demo course goes (out/demo)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded at once")
    _add_course_argument(parser)
    parser.set_defaults(func=_run_demo)


def _run_gradescope(args: argparse.Namespace) -> int:
    from autograder.pipeline.gradescope import build

    bundle = build(args.course, args.chapter, args.output)
    print(f"{bundle}: upload it as the autograder of a Gradescope programming assignment "
          f"(students submit {args.chapter}.ipynb)")
    return 0


def _add_gradescope(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gradescope", help="a Gradescope autograder bundle (autograder.zip) that grades a chapter as `grade` does",
        description="Write DIR/autograder.zip: setup.sh and run_autograder for Gradescope, the chapter released with "
                    "its gradebook, and the course's packages. Each submission is graded as `bpcourse grade` grades "
                    "it, and results/results.json gets each graded cell's points and message.")
    parser.add_argument("chapter", metavar="CHAPTER")
    parser.add_argument("-o", "--output", type=Path, default=Path("out/gradescope"), metavar="DIR",
                        help="where autograder.zip goes (out/gradescope)")
    _add_course_argument(parser)
    parser.set_defaults(func=_run_gradescope)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bpcourse", description="Release, grade and check the backprop course.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_release(subparsers)
    _add_validate(subparsers)
    _add_grade(subparsers)
    _add_feedback(subparsers)
    _add_export(subparsers)
    _add_check(subparsers)
    _add_demo(subparsers)
    _add_gradescope(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    course = getattr(args, "course", Path("."))
    from autograder.pipeline.course import prepare_environment, skip_slow_imports

    prepare_environment(course)
    skip_slow_imports()
    from autograder.pipeline.course import CourseError  # after the two lines above, which it depends on

    try:
        return int(args.func(args) or 0)
    except CourseError as err:
        print(f"bpcourse {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
