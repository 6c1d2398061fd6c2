"""meterkit: exact, immutable usage metering.

Value types (`CustomerMeter`, `SubscriptionMeter`, `MeterRef`, `Meter`, `Event`),
pure arithmetic (`consume`, `credit`, `amount_due`), metering (`matches`,
`aggregate`, `usage` and their accumulators) and the documented JSON shapes
(`to_dict`, `from_dict`). Everything public is importable from here.
"""

from .arithmetic import consume, credit
from .errors import (
    InexactError,
    InvalidTypeError,
    MeterkitError,
    MissingFieldError,
    ValidationError,
)
from .events import Event
from .matching import matches
from .meters import (
    CountAggregation,
    Filter,
    FilterClause,
    Meter,
    PropertyAggregation,
    UniqueAggregation,
)
from .pricing import MeteredUnitPrice, amount_due
from .serialization import from_dict, from_json, to_dict, to_json
from .timeseries import (
    MeterQuantities,
    MeterQuantity,
    build_subscription_meter,
    quantities,
)
from .usage import AggregateAccumulator, Usage, UsageAccumulator, aggregate, usage
from .values import CustomerMeter, MeterRef, SubscriptionMeter

__version__ = "0.1.0"

__all__ = [
    "AggregateAccumulator",
    "CountAggregation",
    "CustomerMeter",
    "Event",
    "Filter",
    "FilterClause",
    "InexactError",
    "InvalidTypeError",
    "Meter",
    "MeterQuantities",
    "MeterQuantity",
    "MeterRef",
    "MeteredUnitPrice",
    "MeterkitError",
    "MissingFieldError",
    "PropertyAggregation",
    "SubscriptionMeter",
    "UniqueAggregation",
    "Usage",
    "UsageAccumulator",
    "ValidationError",
    "__version__",
    "aggregate",
    "amount_due",
    "build_subscription_meter",
    "consume",
    "credit",
    "from_dict",
    "from_json",
    "matches",
    "quantities",
    "to_dict",
    "to_json",
    "usage",
]
