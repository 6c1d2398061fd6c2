"""The meter states of the API: `MeterRef`, `CustomerMeter`, `SubscriptionMeter`.

Rule 1: every instance is valid. Constructors check and normalise each field (ids to
lower-case UUID strings, timestamps to UTC, units to exact `Decimal`), and there is no
way to change a field afterwards: operations return new values.
Rule 2: `CustomerMeter.balance` is derived, never passed:
``max(0, credited_units - consumed_units)``, so it can never be negative.
Rule 3: fields are declared in the order of the documented JSON shape, which is
the order `to_dict` writes them in; constructors take keywords only.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, DecimalException
from typing import Any

import attrs

from . import _fields
from ._units import UNITS, ZERO, parse_units
from .errors import InvalidTypeError, ValidationError

__all__ = ["CustomerMeter", "MeterRef", "SubscriptionMeter"]

_UNITS_SUBTRACT = UNITS.subtract


def _consumed_units(value: object) -> Decimal:
    return parse_units(value, "consumed_units")


@attrs.frozen(kw_only=True)
class MeterRef:
    """The meter a customer meter belongs to (shape ``CustomerCustomerMeterMeter``).

    >>> from datetime import datetime, timezone
    >>> ref = MeterRef(id="D498A884-E2CD-4D3E-8002-F536468A8B22", name="Tokens",
    ...                created_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    >>> ref.id, ref.modified_at
    ('d498a884-e2cd-4d3e-8002-f536468a8b22', None)
    """

    created_at: datetime = attrs.field(converter=_fields.created_at_field)
    modified_at: datetime | None = attrs.field(
        default=None, converter=_fields.modified_at_field
    )
    id: str = attrs.field(converter=_fields.id_field)
    name: str = attrs.field(converter=_fields.name_field)


def _check_meter_ref(instance: object, attribute: object, value: Any) -> None:
    if not isinstance(value, MeterRef):
        raise InvalidTypeError("must be a MeterRef", path="meter", value=value)


@attrs.frozen(kw_only=True)
class CustomerMeter:
    """A customer's consumption and credits on one meter (``CustomerCustomerMeter``).

    >>> from datetime import datetime, timezone
    >>> t = datetime(2025, 1, 1, tzinfo=timezone.utc)
    >>> meter = MeterRef(id="d498a884-e2cd-4d3e-8002-f536468a8b22", name="Tokens",
    ...                  created_at=t)
    >>> cm = CustomerMeter(id="6b0d1d7e-1f0a-4c4e-9a53-2f6f2f1b8f10", created_at=t,
    ...                    modified_at=None,
    ...                    customer_id="992fae2a-2a17-4b7a-8d9e-e287cf90131b",
    ...                    meter_id=meter.id, consumed_units=25, credited_units=100,
    ...                    meter=meter)
    >>> cm.balance
    Decimal('75')
    """

    id: str = attrs.field(converter=_fields.id_field)
    created_at: datetime = attrs.field(converter=_fields.created_at_field)
    modified_at: datetime | None = attrs.field(converter=_fields.modified_at_field)
    customer_id: str = attrs.field(converter=_fields.customer_id_field)
    meter_id: str = attrs.field(converter=_fields.meter_id_field)
    consumed_units: Decimal = attrs.field(converter=_consumed_units)
    credited_units: int = attrs.field(converter=_fields.credited_units_field)
    #: ``max(0, credited_units - consumed_units)``; computed, not a constructor keyword.
    balance: Decimal = attrs.field(init=False, eq=False)
    meter: MeterRef = attrs.field(validator=_check_meter_ref)

    def __attrs_post_init__(self) -> None:
        if self.meter_id != self.meter.id:
            raise ValidationError(
                f"must equal meter.id ({self.meter.id!r})",
                path="meter_id",
                value=self.meter_id,
            )
        # UNITS.subtract directly (it takes the int exactly), not subtract_units:
        # this runs for every customer meter read, and the wrapper's call and a
        # Decimal(int) were a third of from_dict's time.
        try:
            remaining = _UNITS_SUBTRACT(self.credited_units, self.consumed_units)
        except DecimalException:
            raise ValidationError(
                "credited_units - consumed_units cannot be held exactly (it needs"
                " more than 50 significant digits, or has a fraction below 1E-28)",
                path="consumed_units",
                value=self.consumed_units,
            ) from None
        # The class is frozen; this is the one write, made while constructing.
        _set_balance(self, remaining if remaining > ZERO else ZERO)


_set_balance = CustomerMeter.balance.__set__  # type: ignore[attr-defined]


@attrs.frozen(kw_only=True)
class SubscriptionMeter:
    """Consumption and amount due on one meter in a billing period.

    The shape is ``CustomerStateSubscriptionMeter``; ``amount`` is in cents.
    """

    created_at: datetime = attrs.field(converter=_fields.created_at_field)
    modified_at: datetime | None = attrs.field(converter=_fields.modified_at_field)
    id: str = attrs.field(converter=_fields.id_field)
    consumed_units: Decimal = attrs.field(converter=_consumed_units)
    credited_units: int = attrs.field(converter=_fields.credited_units_field)
    amount: int = attrs.field(converter=_fields.amount_field)
    meter_id: str = attrs.field(converter=_fields.meter_id_field)
