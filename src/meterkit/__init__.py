"""meterkit: exact, immutable usage metering.

Value types (`CustomerMeter`, `SubscriptionMeter`, `MeterRef`), pure arithmetic
(`consume`, `credit`) and the documented JSON shapes (`to_dict`, `from_dict`).
Everything public is importable from here.
"""

from .arithmetic import consume, credit
from .errors import (
    InexactError,
    InvalidTypeError,
    MeterkitError,
    MissingFieldError,
    ValidationError,
)
from .serialization import from_dict, from_json, to_dict, to_json
from .values import CustomerMeter, MeterRef, SubscriptionMeter

__version__ = "0.1.0"

__all__ = [
    "CustomerMeter",
    "InexactError",
    "InvalidTypeError",
    "MeterRef",
    "MeterkitError",
    "MissingFieldError",
    "SubscriptionMeter",
    "ValidationError",
    "__version__",
    "consume",
    "credit",
    "from_dict",
    "from_json",
    "to_dict",
    "to_json",
]
