"""The package is vendorable, typed, and free of import-time side effects."""

from __future__ import annotations

import ast
import importlib
import pathlib
import shutil
import subprocess
import sys

import meterkit

PACKAGE = pathlib.Path(meterkit.__file__).parent


def test_version_is_a_literal() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    versions = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == "__version__" for t in node.targets)
    ]
    assert len(versions) == 1
    assert isinstance(versions[0], ast.Constant)
    assert versions[0].value == meterkit.__version__


def test_only_relative_imports_of_meterkit() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and (node.module or "").split(".")[0] == "meterkit"
            ):
                offenders.append(f"{path.name}: from {node.module}")
            if isinstance(node, ast.Import):
                offenders += [
                    f"{path.name}: import {a.name}"
                    for a in node.names
                    if a.name.split(".")[0] == "meterkit"
                ]
    assert offenders == []


def test_typed_marker_present() -> None:
    assert (PACKAGE / "py.typed").is_file()


def test_everything_public_is_exported() -> None:
    for name in meterkit.__all__:
        assert hasattr(meterkit, name), name
    # Its order is ruff's (RUF022, checked by `make lint`): constants, classes,
    # functions, each sorted.
    assert len(set(meterkit.__all__)) == len(meterkit.__all__)


def test_vendored_copy_works(tmp_path: pathlib.Path) -> None:
    # A billing script copies the folder under its own package and imports it from
    # there, in a fresh interpreter where no `meterkit` is importable.
    vendor = tmp_path / "billing" / "_vendor"
    vendor.mkdir(parents=True)
    (tmp_path / "billing" / "__init__.py").write_text("")
    (vendor / "__init__.py").write_text("")
    shutil.copytree(
        PACKAGE, vendor / "meterkit", ignore=shutil.ignore_patterns("*.pyc")
    )
    script = (
        "import sys\n"
        "sys.modules['meterkit'] = None  # the installed copy must not be used\n"
        "from billing._vendor import meterkit as mk\n"
        "from billing._vendor.meterkit import values\n"
        "import datetime as dt\n"
        "t = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)\n"
        "ref = mk.MeterRef(id='d498a884-e2cd-4d3e-8002-f536468a8b22',"
        " name='T', created_at=t)\n"
        "assert mk.from_dict(mk.MeterRef, mk.to_dict(ref)) == ref\n"
        "assert values.MeterRef is mk.MeterRef\n"
        "print(mk.__version__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == meterkit.__version__


# -- the public/private rule (docs/architecture.md, "Public and private") -----------

MODULES = sorted(
    path.stem
    for path in PACKAGE.glob("*.py")
    if path.stem not in ("__init__", "__main__")
)
PUBLIC = [name for name in MODULES if not name.startswith("_")]
PRIVATE = [name for name in MODULES if name.startswith("_")]


def test_a_public_modules_all_is_what_meterkit_exports_from_it() -> None:
    exported: dict[str, str] = {}
    for name in PUBLIC:
        module = importlib.import_module(f"meterkit.{name}")
        for public in module.__all__:
            assert public in meterkit.__all__, f"{name}.{public} is not exported"
            assert getattr(meterkit, public) is getattr(module, public)
            assert public not in exported, f"{public} in {exported.get(public)} too"
            exported[public] = name
    assert set(exported) == set(meterkit.__all__) - {"__version__"}


def test_a_private_module_exports_nothing() -> None:
    for name in PRIVATE:
        module = importlib.import_module(f"meterkit.{name}")
        assert getattr(module, "__all__", []) == [], name


def module_assignments(name: str) -> list[tuple[str, ast.expr]]:
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            found += [
                (t.id, node.value) for t in node.targets if isinstance(t, ast.Name)
            ]
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.value is not None
        ):
            found.append((node.target.id, node.value))
    return found


def test_no_public_name_is_an_alias_of_a_private_one() -> None:
    offenders = [
        f"{name}.{target} = {value.id}"
        for name in MODULES
        for target, value in module_assignments(name)
        if not target.startswith("_")
        and isinstance(value, ast.Name)
        and value.id.startswith("_")
    ]
    assert offenders == []


def test_one_sentinel_idiom() -> None:
    # Markers are `_sentinel.Sentinel`s (they pickle as themselves), never a bare
    # `object()`.
    offenders = [
        f"{name}.{target}"
        for name in MODULES
        for target, value in module_assignments(name)
        if isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == "object"
    ]
    assert offenders == []
    classes = [
        f"{name}.{node.name}"
        for name in MODULES
        for node in ast.parse((PACKAGE / f"{name}.py").read_text()).body
        if isinstance(node, ast.ClassDef) and "Sentinel" in node.name
    ]
    assert classes == ["_sentinel.Sentinel"]


def test_names_are_imported_on_first_use_from_their_module() -> None:
    # One fresh interpreter: `import meterkit` imports none of its modules (nor
    # attrs or cattrs); a name is imported from its module when first used; and
    # importing the module `meterkit.usage` does not bind it over the function.
    script = (
        "import sys\n"
        "import meterkit\n"
        "def loaded():\n"
        "    return sorted(m for m in sys.modules\n"
        "                  if m.split('.')[0] in ('meterkit', 'attr', 'cattrs'))\n"
        "print(loaded())\n"
        "import meterkit.usage, meterkit.explain\n"
        "print(callable(meterkit.usage), callable(meterkit.explain))\n"
        "from meterkit import usage, explain\n"
        "print(usage.__module__, explain.__module__)\n"
        "print('Meter' in dir(meterkit), 'Meter' in vars(meterkit))\n"
        "meterkit.Meter\n"
        "print('Meter' in vars(meterkit))\n"
        "try:\n"
        "    meterkit.nothing\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines() == [
        "['meterkit']",
        "True True",
        "meterkit.usage meterkit.explain",
        "True False",
        "True",
        "module 'meterkit' has no attribute 'nothing'",
    ]


def test_the_run_time_map_of_names_is_the_type_checkers_imports() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    (block,) = [node for node in tree.body if isinstance(node, ast.If)]
    imported = {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == meterkit._HOME
    assert set(imported) == set(meterkit.__all__) - {"__version__"}


def test_the_command_line_starts_without_importing_the_library() -> None:
    # Everything heavy is imported inside `main`, where a Ctrl-C is handled (exit
    # 130, one line): what runs before it must be next to nothing.
    script = (
        "import sys, meterkit.cli\n"
        "print(sorted(m for m in sys.modules\n"
        "             if m.split('.')[0] in ('meterkit', 'attr', 'cattrs')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout == "['meterkit', 'meterkit.cli']\n"
