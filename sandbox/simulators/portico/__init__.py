"""The Heartland Portico gateway (SOAP 1.1) simulator, for its gift and loyalty services, faithful to
``reference/heartland.md`` §2.3 and §4 and to the XML the Global Payments Python SDK (``globalpayments.api``
2.0.8, ``PorticoConnector``) sends and reads.

One endpoint, ``POST /Hps.Exchange.PosGateway/PosGatewayService.asmx`` (``text/xml``, no ``SOAPAction``
needed: the SDK sends none), takes ``PosRequest > Ver1.0 > Header + Transaction > <Service> > Block1`` and
answers ``PosResponse > Ver1.0 > Header{GatewayTxnId, GatewayRspCode, GatewayRspMsg} > Transaction >
<Service>{RspCode, RspText, ...}`` for ``GiftCardActivate``, ``GiftCardAddValue``, ``GiftCardBalance``,
``GiftCardSale``, ``GiftCardAlias`` (``ADD``/``DELETE``/``CREATE``), ``GiftCardReward`` and ``GiftCardVoid``.

What it reproduces: authentication by ``SecretAPIKey`` or the legacy five (``GatewayRspCode`` -2 and no
``Transaction`` when they do not match); ``CardData`` with exactly one of ``CardNbr``, ``TrackData``,
``TokenValue``, ``Alias`` and an optional ``PIN``; balances in decimal dollars (``BalanceAmt`` ``25.00``) and
points (``PointsBalanceAmt``); ``Currency`` ``USD`` or ``POINTS``; partial approval of a sale larger than the
balance (``SplitTenderCardAmt``/``SplitTenderBalanceDueAmt``); a void taking back exactly what its original
moved, and a second void refused at the gateway (code 3). A request it cannot read gets a ``soap:Client``
fault with HTTP 500, as an ASMX service answers one; injected faults answer as IIS would (``PorticoApp``).

Unverified, and chosen here (each named where it is decided): the ``RspText`` strings and which issuer code
answers which case (``issuer.CODES``), the ``GatewayRspMsg`` of -2, the loyalty earning rule of
``GiftCardReward``, and ``LicenseId``/``SiteId``/``DeviceId``/``RspDT`` in the response header.

Card numbers are the issuer's: ``/_sim/state`` holds them, nothing logs them, and only a ``GiftCardAlias``
``CREATE`` answer carries one. ``POST /_portico/cards`` issues a card with a balance, points and aliases (the
demo's loyalty members by phone) and answers its number masked.

The modules: ``wire`` (SOAP envelopes), ``issuer`` (cards, aliases, balances, transactions) and ``simulator``
(``PorticoSimulator``: credentials, services, control, ground truth; ``PorticoApp``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.simulators.base import SimulatorApp
from sandbox.simulators.portico.issuer import CODES, GiftIssuer
from sandbox.simulators.portico.simulator import (
    DEFAULT_LEGACY,
    DEFAULT_SECRET_API_KEY,
    PorticoApp,
    PorticoSimulator,
)
from sandbox.simulators.portico.wire import PATH, POS_NS, SOAP_NS


def create(seed: int = 0, snapshot: Path | None = None, **options: Any) -> SimulatorApp:
    """The Portico simulator behind fault injection and ``/_sim``; ``options`` go to ``PorticoSimulator``."""
    return PorticoApp(PorticoSimulator(seed=seed, **options), seed=seed, snapshot=snapshot)


__all__ = ["CODES", "DEFAULT_LEGACY", "DEFAULT_SECRET_API_KEY", "PATH", "POS_NS", "SOAP_NS", "GiftIssuer",
           "PorticoApp", "PorticoSimulator", "create"]
