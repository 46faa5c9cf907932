"""Portico's SOAP 1.1 on the wire: reading a ``PosRequest`` envelope and writing ``PosResponse`` envelopes and
SOAP faults, as ``reference/heartland.md`` §2.3 and the Global Payments Python SDK's ``PorticoConnector``
(``_build_envelope``, ``_map_response``) shape them.

Requests are parsed namespace-aware: every element below ``PosRequest`` must be in ``http://Hps.Exchange.PosGateway``
(the SDK declares it as the default namespace, the legacy PHP SDK as ``hps:``; both parse the same). A SOAP 1.1
message may not carry a DTD, so one is refused before parsing: no entity expansion ever reaches the parser.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Union

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
POS_NS = "http://Hps.Exchange.PosGateway"
PATH = "/Hps.Exchange.PosGateway/PosGatewayService.asmx"
CONTENT_TYPE = "text/xml; charset=utf-8"
MAX_BODY = 64 * 1024
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)

Value = Union[str, Decimal, int, "Fields"]
Fields = Sequence[tuple[str, Value]]
"""An element's children in order: ``(name, text)`` or ``(name, nested children)``."""


class SoapFault(Exception):
    """A request the service cannot read: answered ``500`` with a ``soap:Fault`` (``soap:Client`` for the
    caller's mistake, ``soap:Server`` for ours), as an ASMX service answers one."""

    def __init__(self, message: str, *, code: str = "soap:Client") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PosRequest:
    """The parts of one request the gateway acts on: the ``Header`` and the single service element."""

    header: dict[str, str]
    service: str
    body: ET.Element

    def block1(self) -> ET.Element:
        """``<Service><Block1>``: gift services carry every field there (SDK ``process_authorization``)."""
        block = self.body.find(q("Block1"))
        if block is None:
            raise SoapFault(f"{self.service}: Block1 is required")
        return block


def q(name: str) -> str:
    """``name`` in the Portico namespace, as ElementTree spells a qualified tag."""
    return f"{{{POS_NS}}}{name}"


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def text(parent: ET.Element, name: str) -> str | None:
    """The stripped text of ``parent/name`` (None when absent)."""
    child = parent.find(q(name))
    if child is None:
        return None
    return (child.text or "").strip()


def parse_envelope(raw: bytes) -> PosRequest:
    """``Envelope > Body > PosRequest > Ver1.0 > Header + Transaction > <Service>``.

    Raises:
        SoapFault: not XML, a DTD, not a SOAP 1.1 envelope, or not exactly one service element.
    """
    if len(raw) > MAX_BODY:
        raise SoapFault(f"request body over {MAX_BODY} bytes")
    if _DTD.search(raw):
        raise SoapFault("a SOAP message must not contain a Document Type Declaration")
    try:
        root = ET.fromstring(raw)  # noqa: S314 - no DTD can be present (checked above), so no entities
    except ET.ParseError as exc:
        raise SoapFault(f"Server was unable to read request. ---> There is an error in XML document: {exc}") from None
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise SoapFault(f"the root element is {local(root.tag)!r}, not a SOAP 1.1 Envelope ({SOAP_NS})")
    body = root.find(f"{{{SOAP_NS}}}Body")
    request = None if body is None else body.find(q("PosRequest"))
    version = None if request is None else request.find(q("Ver1.0"))
    if version is None:
        raise SoapFault(f"expected Envelope/Body/PosRequest/Ver1.0 in namespace {POS_NS}")
    header = version.find(q("Header"))
    transaction = version.find(q("Transaction"))
    if header is None or transaction is None:
        raise SoapFault("PosRequest/Ver1.0 needs a Header and a Transaction")
    services = list(transaction)
    if len(services) != 1 or not services[0].tag.startswith(f"{{{POS_NS}}}"):
        raise SoapFault("Transaction must hold exactly one service element")
    fields = {local(child.tag): (child.text or "").strip() for child in header if len(child) == 0}
    return PosRequest(header=fields, service=local(services[0].tag), body=services[0])


def _append(parent: ET.Element, fields: Iterable[tuple[str, Value]]) -> None:
    for name, value in fields:
        child = ET.SubElement(parent, name)
        if isinstance(value, str | Decimal | int):
            child.text = str(value)
        else:
            _append(child, value)


def envelope(header: Fields, service: str | None = None, fields: Fields = ()) -> bytes:
    """A ``PosResponse``: ``Ver1.0 > Header`` and, unless the gateway refused the request (``service`` None),
    ``Transaction > <service>`` with the issuer's fields."""
    root = ET.Element("soap:Envelope", {"xmlns:soap": SOAP_NS,
                                        "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
                                        "xmlns:xsd": "http://www.w3.org/2001/XMLSchema"})
    body = ET.SubElement(root, "soap:Body")
    response = ET.SubElement(body, "PosResponse", {"xmlns": POS_NS})
    version = ET.SubElement(response, "Ver1.0")
    _append(ET.SubElement(version, "Header"), header)
    if service is not None:
        _append(ET.SubElement(ET.SubElement(version, "Transaction"), service), fields)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root)


def fault(error: SoapFault) -> bytes:
    """A SOAP 1.1 ``Fault`` (``faultcode``, ``faultstring``, empty ``detail``)."""
    root = ET.Element("soap:Envelope", {"xmlns:soap": SOAP_NS})
    body = ET.SubElement(root, "soap:Body")
    element = ET.SubElement(body, "soap:Fault")
    _append(element, [("faultcode", error.code), ("faultstring", error.message), ("detail", "")])
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root)


def dollars(amount: Decimal) -> str:
    """Decimal dollars with two places, as Portico writes ``BalanceAmt`` (``25.00``)."""
    return f"{amount.quantize(Decimal('0.01')):f}"


def points(amount: Decimal) -> str:
    """A points balance: whole points as an integer (``120``), fractions kept as given."""
    normal = amount.normalize()
    return f"{normal:f}" if normal != normal.to_integral_value() else str(int(normal))
