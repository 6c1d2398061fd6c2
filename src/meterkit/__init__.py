"""meterkit: exact, immutable usage metering.

Value types (`CustomerMeter`, `SubscriptionMeter`, `MeterRef`, `Meter`, `Event`),
pure arithmetic (`consume`, `credit`, `amount_due`), metering (`matches`,
`aggregate`, `usage` and their accumulators) and the documented JSON shapes
(`to_dict`, `from_dict`). Everything public is importable from here.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

# Type checkers read these imports; at run time each name is imported from its
# module on first use (PEP 562 `__getattr__` below), so that `import meterkit`
# (and the command line's start-up, during which a Ctrl-C must not print a
# traceback) costs almost nothing.
if TYPE_CHECKING:
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
    from .sql import (
        DIALECTS,
        QUERIES,
        SqlQuery,
        compile_sql,
        create_table_sql,
        jsonl_table_sql,
        jsonl_view_sql,
        load_events,
        parquet_view_sql,
        sql_aggregate,
        sql_quantities,
        sql_usage,
        sql_usage_by_customer,
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
    "DIALECTS",
    "INTERVALS",
    "KINDS",
    "MAX_FILTER_CLAUSES",
    "MAX_FILTER_DEPTH",
    "OPERATORS",
    "QUERIES",
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
    "SqlQuery",
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
    "compile_sql",
    "configure_converter",
    "consume",
    "create_table_sql",
    "credit",
    "explain",
    "from_dict",
    "from_json",
    "jsonl_table_sql",
    "jsonl_view_sql",
    "load_events",
    "make_converter",
    "matches",
    "parquet_view_sql",
    "price_from_dict",
    "price_from_json",
    "quantities",
    "quantities_by",
    "sql_aggregate",
    "sql_quantities",
    "sql_usage",
    "sql_usage_by_customer",
    "to_dict",
    "to_json",
    "usage",
    "usage_by_customer",
]


#: The module of each public name: the imports above, for the run time.
_HOME: dict[str, str] = {
    "consume": "arithmetic",
    "credit": "arithmetic",
    "InexactError": "errors",
    "InvalidTypeError": "errors",
    "MeterkitError": "errors",
    "MissingFieldError": "errors",
    "ValidationError": "errors",
    "Event": "events",
    "FailedClause": "explain",
    "KINDS": "explain",
    "Kind": "explain",
    "TraceEntry": "explain",
    "explain": "explain",
    "BurnDown": "grants",
    "CreditGrant": "grants",
    "Draw": "grants",
    "GrantState": "grants",
    "burn_down": "grants",
    "matches": "matching",
    "AGGREGATION_FUNCS": "meters",
    "Aggregation": "meters",
    "CountAggregation": "meters",
    "Filter": "meters",
    "FilterClause": "meters",
    "MAX_FILTER_CLAUSES": "meters",
    "MAX_FILTER_DEPTH": "meters",
    "Meter": "meters",
    "OPERATORS": "meters",
    "PropertyAggregation": "meters",
    "UniqueAggregation": "meters",
    "GraduatedPrice": "pricing",
    "MeteredUnitPrice": "pricing",
    "PackagePrice": "pricing",
    "Price": "pricing",
    "Tier": "pricing",
    "VolumePrice": "pricing",
    "amount_due": "pricing",
    "STYLES": "serialization",
    "Style": "serialization",
    "configure_converter": "serialization",
    "from_dict": "serialization",
    "from_json": "serialization",
    "make_converter": "serialization",
    "price_from_dict": "serialization",
    "price_from_json": "serialization",
    "to_dict": "serialization",
    "to_json": "serialization",
    "DIALECTS": "sql",
    "QUERIES": "sql",
    "SqlQuery": "sql",
    "compile_sql": "sql",
    "create_table_sql": "sql",
    "jsonl_table_sql": "sql",
    "jsonl_view_sql": "sql",
    "load_events": "sql",
    "parquet_view_sql": "sql",
    "sql_aggregate": "sql",
    "sql_quantities": "sql",
    "sql_usage": "sql",
    "sql_usage_by_customer": "sql",
    "DEFAULT_MAX_BUCKETS": "timeseries",
    "GroupQuantities": "timeseries",
    "INTERVALS": "timeseries",
    "MeterQuantities": "timeseries",
    "MeterQuantity": "timeseries",
    "build_subscription_meter": "timeseries",
    "quantities": "timeseries",
    "quantities_by": "timeseries",
    "AggregateAccumulator": "usage",
    "Usage": "usage",
    "UsageAccumulator": "usage",
    "UsageByCustomer": "usage",
    "aggregate": "usage",
    "usage": "usage",
    "usage_by_customer": "usage",
    "CustomerMeter": "values",
    "MeterRef": "values",
    "SubscriptionMeter": "values",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


# `usage` and `explain` are functions named like the modules they live in. Importing
# such a module binds it as an attribute of this package, over the function; this
# package's module type declines that binding, so `meterkit.usage` stays the function
# whatever was imported first (the submodule stays in `sys.modules`).
_SHADOWED = frozenset(name for name, module in _HOME.items() if name == module)


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: object) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
