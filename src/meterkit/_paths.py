"""JSON keys and JSON paths per style, and turning read errors into a path.

Rule 1: a style names every key: ``"wire"`` keeps the attribute names (the API's
snake_case), ``"camel"`` writes them in camelCase (``created_at`` ->
``createdAt``), the SDKs' form.
Rule 2: an error raised while reading names where it happened as a JSON path in the
document's own style (``$.meter.createdAt``, ``$.tiers[2].upTo``); `translate`
walks cattrs' grouped errors to find that path, and reports the first problem in
field order.
"""

from __future__ import annotations

import re
from typing import Literal, get_args, get_origin

import attrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)

from .errors import MeterkitError, MissingFieldError, ValidationError

__all__: list[str] = []

Style = Literal["wire", "camel"]
STYLES: tuple[Style, ...] = ("wire", "camel")


def camel_case(name: str) -> str:
    """``consumed_units`` -> ``consumedUnits``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def json_key(cls: type, attribute: str, style: Style) -> str:
    """The key under which ``cls.attribute`` appears in ``style``."""
    return camel_case(attribute) if style == "camel" else attribute


def check_style(style: object) -> None:
    if style not in STYLES:
        raise ValidationError(
            f"must be one of {', '.join(map(repr, STYLES))}", path="style", value=style
        )


def translate(
    exc: BaseException, cls: object, path: str, style: Style
) -> MeterkitError:
    """Turn whatever structuring raised into one `MeterkitError` located by JSON path.

    cattrs groups field errors in a `ClassValidationError`, each with a note naming
    the attribute; the first (in field order) is reported, with its path.
    """
    if isinstance(exc, ClassValidationError):
        with_notes, without = exc.group_exceptions()
        if with_notes:
            inner, note = with_notes[0]
            key = json_key(cls, note.name, style)  # type: ignore[arg-type]
            return translate(inner, note.type, f"{path}.{key}", style)
        if without:
            return translate(without[0], cls, path, style)
    if isinstance(exc, IterableValidationError):
        with_notes_i, without_i = exc.group_exceptions()
        if with_notes_i:
            inner_i, note_i = with_notes_i[0]
            return translate(inner_i, note_i.type, f"{path}[{note_i.index}]", style)
        if without_i:
            return translate(without_i[0], cls, path, style)
    if isinstance(exc, KeyError) and not isinstance(exc, MeterkitError):
        return MissingFieldError("required key is missing", path=path)
    if isinstance(exc, MeterkitError):
        return exc.at(join_path(path, exc.path, cls, style))
    if isinstance(exc, ForbiddenExtraKeysError):  # pragma: no cover  # we never forbid
        return ValidationError(str(exc), path=path)
    return ValidationError(f"cannot be read: {exc}", path=path)


_PATH_STEP = re.compile(r"\[[^\]]*\]|[^.\[]+")


def join_path(path: str, inner: str | None, cls: object, style: Style) -> str:
    """Extend a JSON path by an error's own path (attribute names of ``cls``).

    Names are written in ``style`` for as long as the path goes through attrs
    classes and their tuples (``tiers[2].up_to`` is ``tiers[2].upTo`` in camel);
    below anything else, a metadata mapping say, they are kept as they are.
    """
    if not inner:
        return path
    current: object = cls
    for step in _PATH_STEP.findall(inner):
        if step.startswith("["):
            path += step
            items = get_args(current) if get_origin(current) is tuple else ()
            current = items[0] if items else None
        elif isinstance(current, type) and attrs.has(current):
            path += "." + json_key(current, step, style)
            field = getattr(attrs.fields(attrs.resolve_types(current)), step, None)
            current = None if field is None else field.type
        else:
            path += "." + step
            current = None
    return path
