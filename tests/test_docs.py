"""The examples of README.md and docs/*.md run as pasted into a fresh interpreter.

pytest runs them as doctests too (``--doctest-glob=*.md``, with the empty namespace
the root conftest.py gives Markdown files); this test runs them with plain
`doctest`, without pytest's doctest plugin or conftest.py's names, so an example
that uses a name it does not define fails here whatever the test setup injects.
"""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The flags of pyproject.toml's doctest_optionflags.
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


@pytest.mark.parametrize(
    "path", MARKDOWN, ids=[str(p.relative_to(ROOT)) for p in MARKDOWN]
)
def test_markdown_examples_run_in_a_fresh_namespace(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A newcomer's interpreter: started at the repository's root, nothing defined.
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "dask_usage", raising=False)
    test = doctest.DocTestParser().get_doctest(
        path.read_text(encoding="utf-8"),
        {"__name__": "__main__"},
        path.name,
        str(path),
        0,
    )
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
