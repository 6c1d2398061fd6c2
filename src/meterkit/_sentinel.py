"""The one sentinel idiom: markers that are themselves, also across processes.

Rule 1: a sentinel is a `Sentinel` made once at module level, named after the module
attribute that holds it; it is compared with ``is``.
Rule 2: it pickles as a reference to that attribute, so an accumulator's state that
holds one unpickles to the very same object (a bare ``object()`` would not). This
works in a vendored copy too: the reference is the defining module's own name.
"""

from __future__ import annotations

import importlib

__all__: list[str] = []


class Sentinel:
    """A marker: ``NAME = Sentinel("NAME", __name__)``."""

    __slots__ = ("_module", "_name")

    def __init__(self, name: str, module: str) -> None:
        self._name = name
        self._module = module

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (_lookup, (self._module, self._name))


def _lookup(module: str, name: str) -> Sentinel:
    found: Sentinel = getattr(importlib.import_module(module), name)
    return found
