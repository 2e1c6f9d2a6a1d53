"""The set-up: one dependency list in two files, and Jupyter state kept inside the project."""
import re
import runpy
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def requirement_names(requirements):
    return {re.split(r"[<>=!~ ]", r.strip(), maxsplit=1)[0].lower().replace("_", "-"): r.replace(" ", "")
            for r in requirements}


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = requirement_names(project["dependencies"] + project["optional-dependencies"]["dev"])
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = lines.index("dependencies:")
    conda = [line.strip()[2:] for line in lines[start + 1:] if line.strip().startswith("- ")]
    listed = requirement_names([c for c in conda if not c.startswith(("python=", "pip"))])
    assert listed == wanted
    assert "python=3.11" in conda


def test_nbgrader_config_pins_no_absolute_path(tmp_path):
    source = (ROOT / "nbgrader_config.py").read_text()
    assert "/work" not in source and "/home" not in source and "/root" not in source

    class Section(dict):
        __getattr__ = dict.__getitem__

        def __setattr__(self, key, value):
            self[key] = value

    class Config(dict):
        def __getattr__(self, key):
            return self.setdefault(key, Section())

    copy = tmp_path / "course_copy"
    copy.mkdir()
    (copy / "nbgrader_config.py").write_text(source)
    config = Config()
    runpy.run_path(str(copy / "nbgrader_config.py"), init_globals={"get_config": lambda: config})
    assert config.CourseDirectory["root"] == str(copy)
    assert config.CourseDirectory["db_url"] == f"sqlite:///{copy / 'gradebook.db'}"
    assert config.Exchange["root"] == str(copy / "exchange")


def test_makefile_keeps_jupyter_state_in_the_project():
    makefile = (ROOT / "Makefile").read_text()
    for variable in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        assert re.search(rf"^export {variable}\s*:=\s*\$\(CURDIR\)/\.jupyter/", makefile, re.M), variable
    ignored = (ROOT / ".gitignore").read_text().split()
    for path in ("/.venv/", "/.jupyter/", "/submitted/", "/autograded/", "/feedback/", "/gradebook.db"):
        assert path in ignored
