"""The errors of the OData building blocks; a simulator answers each with its own HTTP 400 body."""

from __future__ import annotations


class ODataQueryError(ValueError):
    """A request the service refuses as malformed (HTTP 400); the message is the OData error text."""


class FilterSyntaxError(ODataQueryError):
    """A ``$filter`` that does not parse; the parser's own complaint is the ``__cause__``."""


class UnknownProperty(ODataQueryError):
    """A query option names a property the entity type does not have."""
