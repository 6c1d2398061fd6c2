"""The errors meterkit raises.

Rule 1: every error a caller can cause is a `MeterkitError`.
Rule 2: each leaf also inherits the builtin a caller would catch (`ValueError`,
`TypeError`, `ArithmeticError`), so code written against the builtins keeps working.
Rule 3: a message names where the problem is (`path`: a field name such as
``consumed_units``, or a JSON path such as ``$.meter.created_at``) and the offending
value, and says what would be accepted instead.
"""

from __future__ import annotations

from ._sentinel import Sentinel

__all__ = [
    "InexactError",
    "InvalidTypeError",
    "MeterkitError",
    "MissingFieldError",
    "ValidationError",
]

_NO_VALUE: object = Sentinel("_NO_VALUE", __name__)


class MeterkitError(Exception):
    """Base class of every error meterkit raises on purpose.

    ``reason`` says what is wrong, ``path`` where (or ``None``), ``value`` the
    offending value (absent when there is none, for example a missing key).
    """

    def __init__(
        self, reason: str, *, path: str | None = None, value: object = _NO_VALUE
    ) -> None:
        self.reason = reason
        self.path = path
        self.value = value
        super().__init__(self._render())

    @property
    def has_value(self) -> bool:
        """Whether the error carries an offending value."""
        return self.value is not _NO_VALUE

    def _render(self) -> str:
        text = self.reason if self.path is None else f"{self.path}: {self.reason}"
        if self.has_value:
            text = f"{text} (got {_shown(self.value)})"
        return text

    def at(self, path: str) -> MeterkitError:
        """Return a copy of this error located at ``path``, same class, same cause."""
        clone = type(self)(self.reason, path=path, value=self.value)
        clone.__cause__ = self.__cause__
        return clone

    def __reduce__(self) -> tuple[object, ...]:
        # Keep errors picklable (they cross process boundaries in parallel folds).
        value = (self.value,) if self.has_value else ()
        return (_rebuild, (type(self), self.reason, self.path, value))


def _rebuild(
    cls: type[MeterkitError], reason: str, path: str | None, value: tuple[object, ...]
) -> MeterkitError:
    if value:
        return cls(reason, path=path, value=value[0])
    return cls(reason, path=path)


def _shown(value: object) -> str:
    """``repr(value)``, shortened so that a message stays readable and printable."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond the interpreter's limit on digits in str()
        if isinstance(value, int):
            return f"<int of about {value.bit_length() * 3 // 10} digits>"
        return "<unprintable value>"
    except RecursionError:  # a value nested deeper than repr can go
        return f"<{type(value).__name__} nested too deeply to show>"
    return text if len(text) <= 200 else text[:150] + "..." + text[-40:]


class ValidationError(MeterkitError, ValueError):
    """A value or a document that breaks a rule of its type."""


class InvalidTypeError(ValidationError, TypeError):
    """A value of the wrong type: a ``bool`` for an ``int``, a list for an object."""


class MissingFieldError(ValidationError):
    """A required key is absent from a document."""


class InexactError(MeterkitError, ArithmeticError):
    """A unit calculation whose exact result does not fit meterkit's decimal context."""
