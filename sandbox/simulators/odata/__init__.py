"""OData v4 building blocks for the Dynamics simulators: ``$filter``, the other query options, entity keys,
Edm values and ``$metadata``.

The simulators must answer ``$filter``/``$select``/``$orderby``/``$top``/``$skip``/``$count`` and
``$metadata`` the way the real services do, so a client bug (a forgotten quote, a float amount, a plain
string compared with an F&O enum) fails in tests instead of in production. The modules:

* ``errors``: ``ODataQueryError`` (answer it with HTTP 400) and its kinds, ``FilterSyntaxError`` and
  ``UnknownProperty``.
* ``filter``: ``Dialect`` (``ODATA_V4``, ``FINANCE_AND_OPERATIONS``, ``BUSINESS_CENTRAL``) and
  ``compile_filter(text, types, *, dialect, entity, codes)`` → ``predicate(row) -> bool``.
* ``options``: ``QueryOptions.parse(params, types, *, dialect, entity)`` then ``.rows(rows)`` (filter +
  order), ``.page(rows)`` (skip + top) and ``.project(row)`` (select).
* ``keys``: ``parse_key``/``format_key``, the ``(dataAreaId='usmf',JournalBatchNumber='00042')`` part of an
  entity URL, and ``split_outside_quotes``.
* ``values``: ``coerce(value, edm_type, name)``, a JSON request value as the value a row stores.
* ``metadata``: ``EntitySet``, ``NavigationProperty``, ``Action`` and ``edmx(...)``.

Exact-decimal JSON is ``sandbox.simulators.jsonio``.
"""

from __future__ import annotations

from sandbox.simulators.odata.errors import FilterSyntaxError, ODataQueryError, UnknownProperty
from sandbox.simulators.odata.filter import (
    BUSINESS_CENTRAL,
    FINANCE_AND_OPERATIONS,
    ODATA_V4,
    Dialect,
    compile_filter,
)
from sandbox.simulators.odata.keys import format_key, parse_key, split_outside_quotes
from sandbox.simulators.odata.metadata import Action, EntitySet, NavigationProperty, edmx
from sandbox.simulators.odata.options import QueryOptions
from sandbox.simulators.odata.values import coerce

__all__ = [
    "BUSINESS_CENTRAL",
    "FINANCE_AND_OPERATIONS",
    "ODATA_V4",
    "Action",
    "Dialect",
    "EntitySet",
    "FilterSyntaxError",
    "NavigationProperty",
    "ODataQueryError",
    "QueryOptions",
    "UnknownProperty",
    "coerce",
    "compile_filter",
    "edmx",
    "format_key",
    "parse_key",
    "split_outside_quotes",
]
