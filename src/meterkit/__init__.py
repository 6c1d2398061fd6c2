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
from .explain import KINDS, FailedClause, Kind, TraceEntry, explain
from .grants import BurnDown, CreditGrant, Draw, GrantState, burn_down
from .matching import matches
from .meters import (
    AGGREGATION_FUNCS,
    MAX_FILTER_CLAUSES,
    MAX_FILTER_DEPTH,
    OPERATORS,
    Aggregation,
    CountAggregation,
    Filter,
    FilterClause,
    Meter,
    PropertyAggregation,
    UniqueAggregation,
)
from .pricing import (
    GraduatedPrice,
    MeteredUnitPrice,
    PackagePrice,
    Price,
    Tier,
    VolumePrice,
    amount_due,
)
from .serialization import (
    STYLES,
    Style,
    configure_converter,
    from_dict,
    from_json,
    make_converter,
    price_from_dict,
    price_from_json,
    to_dict,
    to_json,
)
from .timeseries import (
    DEFAULT_MAX_BUCKETS,
    INTERVALS,
    GroupQuantities,
    MeterQuantities,
    MeterQuantity,
    build_subscription_meter,
    quantities,
    quantities_by,
)
from .usage import (
    AggregateAccumulator,
    Usage,
    UsageAccumulator,
    UsageByCustomer,
    aggregate,
    usage,
    usage_by_customer,
)
from .values import CustomerMeter, MeterRef, SubscriptionMeter

__version__ = "0.1.0"

__all__ = [
    "AGGREGATION_FUNCS",
    "DEFAULT_MAX_BUCKETS",
    "INTERVALS",
    "KINDS",
    "MAX_FILTER_CLAUSES",
    "MAX_FILTER_DEPTH",
    "OPERATORS",
    "STYLES",
    "AggregateAccumulator",
    "Aggregation",
    "BurnDown",
    "CountAggregation",
    "CreditGrant",
    "CustomerMeter",
    "Draw",
    "Event",
    "FailedClause",
    "Filter",
    "FilterClause",
    "GraduatedPrice",
    "GrantState",
    "GroupQuantities",
    "InexactError",
    "InvalidTypeError",
    "Kind",
    "Meter",
    "MeterQuantities",
    "MeterQuantity",
    "MeterRef",
    "MeteredUnitPrice",
    "MeterkitError",
    "MissingFieldError",
    "PackagePrice",
    "Price",
    "PropertyAggregation",
    "Style",
    "SubscriptionMeter",
    "Tier",
    "TraceEntry",
    "UniqueAggregation",
    "Usage",
    "UsageAccumulator",
    "UsageByCustomer",
    "ValidationError",
    "VolumePrice",
    "__version__",
    "aggregate",
    "amount_due",
    "build_subscription_meter",
    "burn_down",
    "configure_converter",
    "consume",
    "credit",
    "explain",
    "from_dict",
    "from_json",
    "make_converter",
    "matches",
    "price_from_dict",
    "price_from_json",
    "quantities",
    "quantities_by",
    "to_dict",
    "to_json",
    "usage",
    "usage_by_customer",
]
