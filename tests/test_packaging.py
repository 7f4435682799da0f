"""Packaging files stay in step with each other.

pyproject.toml (lower bounds), environment.yml (conda), constraints.txt (pins),
Makefile and .ci/run are checked as plain files: nothing here imports okddip_edu,
so these tests run even when the library itself does not import.
"""

from __future__ import annotations

import ast
import os
import re
import stat
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# pip name -> conda-forge name, where they differ.
PIP_TO_CONDA = {"torch": "pytorch"}
CONDA_TO_PIP = {v: k for k, v in PIP_TO_CONDA.items()}

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*$")


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _split_spec(req: str) -> tuple[str, list[tuple[str, str]]]:
    """'torch>=2.2' -> ('torch', [('>=', '2.2')]). Works for pip and conda match specs."""
    m = _REQ.match(req.split(";")[0])
    assert m, f"cannot parse requirement {req!r}"
    name, _extras, rest = m.groups()
    specs = []
    for part in filter(None, (p.strip() for p in rest.split(","))):
        sm = re.fullmatch(r"(===|==|>=|<=|~=|!=|>|<|=)\s*(\S+)", part)
        assert sm, f"cannot parse version spec {part!r} in {req!r}"
        specs.append((sm.group(1), sm.group(2)))
    return _canon(name), specs


def _lower_bounds(reqs: list[str], rename: dict[str, str] | None = None) -> dict[str, str]:
    """name -> lower bound; each requirement must be exactly one '>=' bound."""
    rename = rename or {}
    out: dict[str, str] = {}
    for req in reqs:
        name, specs = _split_spec(req)
        name = rename.get(name, name)
        assert name not in out, f"{name} listed twice"
        assert [op for op, _ in specs] == [">="], f"{req!r}: expected exactly one '>=' lower bound"
        out[name] = specs[0][1]
    return out


def _parse_env_yml_by_hand(text: str) -> dict:
    """Just enough YAML for environment.yml: top-level scalars and lists, one nested 'pip:' list."""
    data: dict = {}
    key = None
    pip_list: list[str] | None = None
    for raw in text.splitlines():
        line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        if indent == 0:
            k, _, v = body.partition(":")
            key = k.strip()
            data[key] = v.strip() if v.strip() else []
            pip_list = None
        elif body.startswith("- "):
            item = body[2:].strip()
            if pip_list is not None and indent > pip_indent:
                pip_list.append(item)
            elif item.endswith(":"):
                pip_list = []
                pip_indent = indent
                data[key].append({item[:-1].strip(): pip_list})
            else:
                pip_list = None
                data[key].append(item)
        else:
            raise AssertionError(f"unexpected line in environment.yml: {raw!r}")
    return data


def _load_env_yml() -> dict:
    text = (ROOT / "environment.yml").read_text()
    try:
        import yaml
    except ImportError:
        return _parse_env_yml_by_hand(text)
    return yaml.safe_load(text)


@pytest.fixture(scope="module")
def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def env_yml() -> dict:
    return _load_env_yml()


def _conda_and_pip(env: dict) -> tuple[list[str], list[str]]:
    conda, pip = [], []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(dep.get("pip", []))
        else:
            conda.append(str(dep))
    return conda, pip


def test_hand_parser_agrees_with_yaml():
    yaml = pytest.importorskip("yaml")
    text = (ROOT / "environment.yml").read_text()
    assert _parse_env_yml_by_hand(text) == yaml.safe_load(text)


def test_runtime_dependencies_match_environment_yml(pyproject, env_yml):
    """The conda environment is the core dependencies plus the `lab` extra (JupyterLab)."""
    project = pyproject["project"]
    py_bounds = _lower_bounds(project["dependencies"] + project["optional-dependencies"]["lab"])
    conda, _ = _conda_and_pip(env_yml)
    conda = [c for c in conda if _split_spec(c)[0] not in {"python", "pip"}]
    conda_bounds = _lower_bounds(conda, rename=CONDA_TO_PIP)

    missing_in_conda = sorted(set(py_bounds) - set(conda_bounds))
    missing_in_pyproject = sorted(set(conda_bounds) - set(py_bounds))
    assert not missing_in_conda, f"in pyproject.toml but not environment.yml: {missing_in_conda}"
    assert not missing_in_pyproject, f"in environment.yml but not pyproject.toml: {missing_in_pyproject}"
    differing = {n: (py_bounds[n], conda_bounds[n]) for n in py_bounds if py_bounds[n] != conda_bounds[n]}
    assert not differing, f"lower bounds differ (pyproject, conda): {differing}"


def test_torch_is_named_pytorch_in_conda(env_yml):
    conda, _ = _conda_and_pip(env_yml)
    names = {_split_spec(c)[0] for c in conda}
    assert "pytorch" in names and "torch" not in names


def test_environment_yml_python_and_self_install(pyproject, env_yml):
    assert env_yml["name"] == "okddip-edu"
    conda, pip = _conda_and_pip(env_yml)
    pythons = [c for c in conda if _split_spec(c)[0] == "python"]
    assert pythons, "environment.yml must pin a python lower bound"
    assert _split_spec(pythons[0])[1] == _split_spec("python" + pyproject["project"]["requires-python"])[1]
    assert "pip" in conda
    assert "-e ." in pip, "environment.yml must pip-install the package itself (- -e .)"


def test_pyproject_has_lower_bounds_only(pyproject):
    project = pyproject["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    pinned = [r for r in reqs if "==" in r]
    assert not pinned, f"pyproject.toml must hold lower bounds only (pins go in constraints.txt): {pinned}"
    _lower_bounds(reqs)  # every requirement is exactly one '>=' bound


def test_test_extra(pyproject):
    test_bounds = _lower_bounds(pyproject["project"]["optional-dependencies"]["test"])
    assert {"pytest", "hypothesis", "nbformat", "nbval", "playwright"} <= set(test_bounds)


# What Colab ships and must keep: upgrading these there loses the widgets or the runtime.
COLAB_OWN = {"ipywidgets": "7.7.1", "ipython": "7.34.0"}
NOT_AT_RUN_TIME = {"jupyterlab", "nbval", "ipykernel", "pytest", "hypothesis", "nbformat",
                   "playwright", "kaleido", "notebook"}


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v)[:3])


def test_core_dependencies_are_run_time_imports_only(pyproject):
    core = _lower_bounds(pyproject["project"]["dependencies"])
    assert not NOT_AT_RUN_TIME & set(core), (
        f"core dependencies hold tools that belong in an extra: {NOT_AT_RUN_TIME & set(core)}")
    extras = pyproject["project"]["optional-dependencies"]
    assert {"jupyterlab", "ipykernel"} <= set(_lower_bounds(extras["lab"]))


def test_colab_keeps_its_own_widgets_and_kernel(pyproject):
    """Every core lower bound that Colab's own packages must meet, they meet: pip installs
    nothing over them (its default strategy upgrades only what does not satisfy)."""
    core = _lower_bounds(pyproject["project"]["dependencies"])
    for name, colab in COLAB_OWN.items():
        if name in core:
            assert _version(core[name]) <= _version(colab), (
                f"{name}>={core[name]} would upgrade Colab's {name} {colab}")


def _build_requires(pyproject) -> dict[str, dict[str, str]]:
    """build-system.requires as name -> {'>=': lower, '<': cap}; each needs both."""
    out = {}
    for req in pyproject["build-system"]["requires"]:
        name, specs = _split_spec(req)
        ops = dict(specs)
        assert set(ops) == {">=", "<"}, (
            f"{req!r}: build-system needs a lower bound and a cap ('>=' and '<'), so a future "
            "release of the backend cannot break an install from git")
        out[name] = ops
    return out


def _constraint_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, specs = _split_spec(line)
            assert [op for op, _ in specs] == ["=="], f"constraints.txt should hold exact pins: {line!r}"
            pins[name] = specs[0][1]
    return pins


def test_test_extra_can_build_the_package(pyproject):
    """tests/test_wheel.py builds without isolation: the venv needs the build backend, at a
    version inside build-system's range (constraints.txt pins the one it gets)."""
    have = _lower_bounds(pyproject["project"]["optional-dependencies"]["test"])
    pins = _constraint_pins()
    for name, bounds in _build_requires(pyproject).items():
        lower, cap = _version(bounds[">="]), _version(bounds["<"])
        assert name in have and _version(have[name]) >= lower, (
            f"the test extra must install {name}>={bounds['>=']} (build-system requires it)")
        assert name in pins and lower <= _version(pins[name]) < cap, (
            f"constraints.txt must pin {name} inside build-system's range {bounds}")


def test_license_is_an_spdx_expression(pyproject):
    """PEP 639: a plain SPDX string. The TOML-table form is deprecated by setuptools (it stops
    building after 2027-02-18), and an SPDX license excludes License :: classifiers."""
    assert pyproject["project"]["license"] == "MIT"
    assert not [c for c in pyproject["project"]["classifiers"] if c.startswith("License ::")]
    cap = _build_requires(pyproject)["setuptools"]
    assert _version(cap[">="]) >= (77, 0, 3), "SPDX license strings need setuptools>=77.0.3"


def test_make_installs_the_extras():
    text = (ROOT / "Makefile").read_text()
    m = re.search(r'-e "\.\[([a-z,]+)\]"', text)
    assert m and {"lab", "test"} <= set(m.group(1).split(",")), (
        "make must install the lab and test extras")


def test_constraints_pin_torch_and_torchvision():
    pins = _constraint_pins()
    assert pins.get("torch") == "2.14.1"
    assert pins.get("torchvision") == "0.29.1"


def test_console_script_entry(pyproject):
    scripts = pyproject["project"]["scripts"]
    assert scripts.get("okddip-edu") == "okddip_edu._entry:main"


def test_console_script_target_defines_main(pyproject):
    """The entry point resolves to a file with a top-level main() (checked by parsing, not importing)."""
    module, _, func = pyproject["project"]["scripts"]["okddip-edu"].partition(":")
    base = ROOT.joinpath(*module.split("."))
    candidates = [base.with_suffix(".py"), base / "__init__.py"]
    path = next((p for p in candidates if p.is_file()), None)
    assert path is not None, f"console script target {module} not found at {[str(c) for c in candidates]}"
    tree = ast.parse(path.read_text(), filename=str(path))
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    names |= {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert func in names, f"{path} defines no top-level {func}()"


def test_version_is_a_static_literal(pyproject):
    """setuptools reads the dynamic version without importing torch: it must be a plain string."""
    attr = pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    module, _, name = attr.rpartition(".")
    path = ROOT.joinpath(*module.split(".")) / "__init__.py"
    tree = ast.parse(path.read_text())
    values = [
        n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)
        and isinstance(n.value, ast.Constant)
    ]
    assert values and re.fullmatch(r"\d+\.\d+\.\d+\S*", values[0]), f"{name} in {path} is not a version literal"


def test_pytest_config(pyproject):
    opts = pyproject["tool"]["pytest"]["ini_options"]
    assert opts["testpaths"] == ["tests"]
    assert "-ra" in opts["addopts"]
    assert any(m.split(":")[0].strip() == "slow" for m in opts["markers"])


def test_ci_runs_make_test():
    path = ROOT / ".ci" / "run"
    assert os.stat(path).st_mode & stat.S_IXUSR, ".ci/run must be executable"
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    assert lines[0].startswith("#!") and "bash" in lines[0]
    assert "set -euo pipefail" in lines
    commands = [ln for ln in lines if ln and not ln.startswith("#")]
    assert any(re.fullmatch(r"(exec\s+)?make\s+test", ln) for ln in commands), ".ci/run must call `make test`"


def test_makefile_targets():
    text = (ROOT / "Makefile").read_text()
    for target in ("lab", "test", "clean"):
        assert re.search(rf"^{target}:", text, re.M), f"Makefile lacks target {target!r}"
    assert "-c constraints.txt" in text, "installs must go through constraints.txt"
    assert re.search(r"^TEST_ENV := OKDDIP_PROFILE=\$\(TEST_PROFILE\) MPLBACKEND=Agg", text, re.M)
    assert not re.search(r"^export (OKDDIP_PROFILE|MPLBACKEND)", text, re.M), (
        "test-only settings must not be exported to every target (make lab inherits them)")
    assert "--nbval-lax" in text
    assert "cifar10_train_prefix.npz" in text


def test_gitignore_keeps_data_and_venv_out():
    entries = {ln.strip() for ln in (ROOT / ".gitignore").read_text().splitlines()}
    assert {".venv/", ".colab/", "data/", "runs/"} <= entries


# --- one-way imports -----------------------------------------------------------------------

PACKAGE = "okddip_edu"


def _package_modules() -> dict[str, tuple[Path, bool]]:
    """'okddip_edu.models.group' -> (its file, whether it is a package's __init__)."""
    mods = {}
    for path in (ROOT / PACKAGE).rglob("*.py"):
        if "_assets" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return mods


def _type_checking_only(tree: ast.AST) -> set[int]:
    """Nodes under `if TYPE_CHECKING:`: never executed, so they import nothing at run time."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at module level or inside a function.

    A function-level import is an edge too: it only delays the circle to the first call.
    `from . import x` counts as an import of the submodule x where x is one, else of the
    package. The implicit import of a parent package's __init__ is not an edge (every
    submodule has it; a package importing its own submodules is no circle)."""
    mods = _package_modules()
    graph: dict[str, set[str]] = {}
    for name, (path, is_pkg) in mods.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        skip = _type_checking_only(tree)
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        out: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
            elif isinstance(node, ast.ImportFrom):
                base = here[:len(here) - (node.level - 1)] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                if target.split(".")[0] != PACKAGE:
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    out.add(sub if sub in mods else target)
        graph[name] = {t for t in out if t in mods and t != name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_import_graph_sees_the_imports_it_should():
    """The parser finds module-level, function-level and `from . import` edges."""
    graph = _import_graph()
    assert {"okddip_edu.constants", "okddip_edu.validation"} <= graph["okddip_edu.config"]
    assert "okddip_edu.cli" in graph["okddip_edu._entry"]  # inside main()
    assert "okddip_edu.rundir" in graph["okddip_edu.cli"]  # from . import rundir
    assert not graph["okddip_edu.constants"], "constants.py must import nothing of the package"
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle_in_the_package():
    circles = _circles(_import_graph())
    assert not circles, f"modules that import each other (directly or through others): {circles}"


# --- Colab's environment (colab/pins.txt, `make test-colab`) --------------------------------

# Colab's versions as its published list gave them (googlecolab/backend-info, 2026-08-19).
COLAB_RUNTIME = {
    "torch": "2.11.0", "torchvision": "0.26.0", "ipykernel": "6.17.1", "ipython": "7.34.0",
    "ipywidgets": "7.7.1", "jupyter-client": "7.4.9", "traitlets": "5.7.1", "notebook": "6.5.7",
    "widgetsnbextension": "3.6.10", "numpy": "2.1.3", "pandas": "2.2.3", "plotly": "5.24.1",
    "matplotlib": "3.10.0", "seaborn": "0.13.2", "tqdm": "4.67.3", "psutil": "5.9.5",
}


def _colab_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "colab" / "pins.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, specs = _split_spec(line)
            assert [op for op, _ in specs] == ["=="], f"colab/pins.txt holds exact pins: {line!r}"
            assert name not in pins, f"{name} pinned twice in colab/pins.txt"
            pins[name] = specs[0][1]
    return pins


def test_colab_pins_hold_colabs_versions_and_say_where_from():
    pins = _colab_pins()
    assert {n: pins.get(n) for n in COLAB_RUNTIME} == COLAB_RUNTIME
    text = (ROOT / "colab" / "pins.txt").read_text()
    assert re.search(r"https://github\.com/googlecolab/backend-info/blob/[0-9a-f]{40}/pip-freeze\.txt",
                     text), "colab/pins.txt must name the list it was read from, at its commit"
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", text), "colab/pins.txt must give the list's date"


def test_colab_keeps_every_pinned_version(pyproject):
    """Each core lower bound is met by Colab's version, so pip's defaults upgrade none of them
    when the notebooks install the package (`make test-colab` checks it by installing)."""
    pins = _colab_pins()
    core = _lower_bounds(pyproject["project"]["dependencies"])
    missing = sorted(set(core) - set(pins))
    assert not missing, f"core dependencies without a Colab version in colab/pins.txt: {missing}"
    over = {n: (b, pins[n]) for n, b in core.items() if _version(b) > _version(pins[n])}
    assert not over, f"lower bounds above Colab's versions (bound, Colab): {over}"


def test_make_test_runs_the_colab_environment():
    text = (ROOT / "Makefile").read_text()
    test_recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", text, re.M)
    assert test_recipe and "test-colab" in test_recipe.group(1)
    assert re.search(r"^test-colab:", text, re.M)
    assert not re.search(r"^test-ipywidgets7:", text, re.M), (
        "the Colab run covers ipywidgets 7.7 (widget and figure tests included)")
    script = (ROOT / "colab" / "colab_env.py").read_text()
    for name in ("tests/test_widgets.py", "tests/test_plots_curves.py",
                 "tests/test_plots_softmax_attention.py", "--nbval-lax", "--nbval-current-env"):
        assert name in script, f"the Colab run must include {name}"


def _colab_env_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("colab_env", ROOT / "colab" / "colab_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_colab_check_fails_when_a_pinned_version_moved(tmp_path, monkeypatch, capsys):
    """The check after the install: torch and torchvision against the reused ones, every
    other pin against colab/pins.txt; one line per package that moved."""
    from importlib import metadata

    colab_env = _colab_env_module()
    pins = colab_env.read_pins()
    (tmp_path / "REUSED.txt").write_text("torch==2.14.1\ntorchvision==0.29.1\nnvidia-nccl-cu13==2.30.7\n")
    installed = {k: v for k, (_, v) in pins.items()}
    installed.update(torch="2.14.1", torchvision="0.29.1")

    def version(name: str) -> str:
        return installed[colab_env.canon(name)]

    monkeypatch.setattr(metadata, "version", version)
    assert colab_env.check(tmp_path) == 0
    installed["pandas"] = "3.1.1"
    installed["torch"] = "2.15.0"
    assert colab_env.check(tmp_path) == 1
    out = capsys.readouterr().out
    assert "pandas: 2.2.3 pinned, 3.1.1 installed" in out
    assert "torch: 2.14.1 pinned, 2.15.0 installed" in out
