"""What every pipeline step needs from a course folder: where Jupyter keeps its state, the course's nbgrader
settings, and a quiet nbgrader."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path


CONFIG_FILE = "nbgrader_config.py"

# Where Jupyter and IPython keep state, inside the course (as the Makefile sets them), never $HOME.
STATE_DIRS = {
    "JUPYTER_CONFIG_DIR": "config",
    "JUPYTER_DATA_DIR": "data",
    "JUPYTER_RUNTIME_DIR": "runtime",
    "IPYTHONDIR": "ipython",
    "MPLCONFIGDIR": "matplotlib",
}


def prepare_environment(course: Path) -> None:
    """Point Jupyter/IPython state at `<course>/.jupyter/` (unless already set) and put this
    Python's bin folder on PATH (nbgrader runs `alembic` by name when it creates a gradebook)."""
    for variable, folder in STATE_DIRS.items():
        os.environ.setdefault(variable, str(Path(course).resolve() / ".jupyter" / folder))
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        os.environ["PATH"] = bin_dir + (os.pathsep + path if path else "")


class CourseError(Exception):
    """Something about the course folder, a chapter name or a notebook that a person must fix."""


# ---------------------------------------------------------------------------------------------
# The course folder and its chapters


def check_course(course_root: Path) -> Path:
    """`course_root` made absolute, after checking it holds nbgrader_config.py and source/."""
    root = Path(course_root).resolve()
    if not (root / CONFIG_FILE).is_file():
        raise CourseError(f"{root} is not a course folder: it has no {CONFIG_FILE} (use --course DIR)")
    if not (root / "source").is_dir():
        raise CourseError(f"{root} is not a course folder: it has no source/ folder")
    return root


def course_config(root: Path):
    """The course's nbgrader settings, read from its own nbgrader_config.py (never the current folder's)."""
    from traitlets.config.loader import PyFileConfigLoader

    try:
        return PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
    except Exception as err:  # a broken config file: say which and why, not where in traitlets
        raise CourseError(f"cannot load {Path(root) / CONFIG_FILE}: {type(err).__name__}: {err}") from None


@contextlib.contextmanager
def quiet_nbgrader() -> Iterator[None]:
    """nbgrader's logging and SQLAlchemy's warnings, kept out of the instructor's terminal.

    BPCOURSE_DEBUG=1 in the environment lets them through, to see what nbgrader says.
    """
    if os.environ.get("BPCOURSE_DEBUG"):
        yield
        return
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


@contextlib.contextmanager
def one_engine_per_gradebook() -> Iterator[None]:
    """nbgrader makes a new SQLAlchemy engine for every Gradebook it opens (seven for each submission it
    records), and a new engine compiles every query again. Within this block, the Gradebooks of one database
    share one engine, and so its compiled queries. Each Gradebook still opens and closes its own connections."""
    import sqlalchemy
    from nbgrader import api

    engines: dict[tuple, sqlalchemy.engine.Engine] = {}

    def create_engine(url, **options):
        key = (str(url), tuple(sorted(options.items())))
        if key not in engines:
            engines[key] = sqlalchemy.create_engine(url, **options)
        return engines[key]

    saved, api.create_engine = api.create_engine, create_engine
    try:
        yield
    finally:
        api.create_engine = saved
        for engine in engines.values():
            engine.dispose()


def skip_slow_imports() -> None:
    """jsonschema imports rfc3987_syntax only to check the 'iri' string format, which neither
    nbformat's nor nbgrader's schemas use; building its grammar costs 1.7 s of every command.
    jsonschema skips the format when the import fails (it catches the ImportError)."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
