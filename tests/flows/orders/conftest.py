"""The order flows' fixtures, from ``world``."""

from tests.flows.orders.world import make_world, servers, tls

__all__ = ["make_world", "servers", "tls"]
