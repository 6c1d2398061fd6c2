"""The package is vendorable, typed, and free of import-time side effects."""

from __future__ import annotations

import ast
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
    assert sorted(meterkit.__all__) == meterkit.__all__


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
