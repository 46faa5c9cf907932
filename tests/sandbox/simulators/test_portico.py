"""The Portico gift and loyalty simulator over real loopback HTTP, driven by hand-written SOAP (not by the
project's client), so what is checked is the wire: the envelope, the codes, the balances."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from sandbox.simulators.base import FaultRule, SimulatorApp
from sandbox.simulators.portico import DEFAULT_LEGACY, DEFAULT_SECRET_API_KEY, PATH, PorticoSimulator, create
from shared.security.pan import luhn_valid
from tests.loopback import Swap

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
POS = "http://Hps.Exchange.PosGateway"
ALIAS = "5551234567"


def q(name: str) -> str:
    return f"{{{POS}}}{name}"


def parse(raw: bytes) -> ET.Element:
    return ET.fromstring(raw)  # noqa: S314 - the simulator's own answers, in a test


def request_xml(service: str, block: str, *, header: str | None = None, prefix: str = "") -> bytes:
    """A request as the SDK writes it (default namespace on PosRequest), or with an ``hps:`` prefix as the
    legacy PHP SDK does."""
    header = header if header is not None else f"<SecretAPIKey>{DEFAULT_SECRET_API_KEY}</SecretAPIKey>"
    p = f"{prefix}:" if prefix else ""
    ns = f'xmlns:{prefix}="{POS}"' if prefix else f'xmlns="{POS}"'
    body = block.replace("<", f"<{p}").replace(f"<{p}/", f"</{p}")
    head = header.replace("<", f"<{p}").replace(f"<{p}/", f"</{p}")
    return (f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body><{p}PosRequest {ns}><{p}Ver1.0>'
            f"<{p}Header>{head}</{p}Header><{p}Transaction><{p}{service}><{p}Block1>{body}</{p}Block1>"
            f"</{p}{service}></{p}Transaction></{p}Ver1.0></{p}PosRequest></soap:Body></soap:Envelope>").encode()


@dataclass
class Answer:
    response: httpx.Response
    root: ET.Element

    @property
    def header(self) -> dict[str, str]:
        element = self.root.find(f"{{{SOAP}}}Body/{q('PosResponse')}/{q('Ver1.0')}/{q('Header')}")
        assert element is not None, self.response.text
        return {c.tag.split("}")[1]: c.text or "" for c in element}

    def service(self, name: str) -> dict[str, Any]:
        element = self.root.find(f"{{{SOAP}}}Body/{q('PosResponse')}/{q('Ver1.0')}/{q('Transaction')}/{q(name)}")
        assert element is not None, self.response.text
        return {c.tag.split("}")[1]: ({g.tag.split("}")[1]: g.text for g in c} if len(c) else c.text) for c in element}

    def has_transaction(self) -> bool:
        return self.root.find(f"{{{SOAP}}}Body/{q('PosResponse')}/{q('Ver1.0')}/{q('Transaction')}") is not None


@dataclass
class Portico:
    app: SimulatorApp
    sim: PorticoSimulator
    http: httpx.Client

    def post(self, payload: bytes, content_type: str = "text/xml; charset=utf-8") -> httpx.Response:
        return self.http.post(PATH, content=payload, headers={"Content-Type": content_type})

    def call(self, service: str, block: str, **kwargs: Any) -> Answer:
        response = self.post(request_xml(service, block, **kwargs))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/xml")
        return Answer(response, parse(response.content))

    def by_alias(self, service: str, alias: str = ALIAS, extra: str = "") -> Answer:
        return self.call(service, f"{extra}<CardData><Alias>{alias}</Alias></CardData>")


@pytest.fixture
def portico(served: tuple[Swap, int]) -> Iterator[Portico]:
    swap, port = served
    app = create(seed=7)
    sim = app.simulated
    assert isinstance(sim, PorticoSimulator)
    swap.app = app
    sim.issue_card(balance="25.00", points="120", aliases=[ALIAS], pin="1234")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        yield Portico(app, sim, http)


def test_a_balance_by_alias_answers_portico_s_envelope_with_dollars_and_points(portico: Portico) -> None:
    answer = portico.by_alias("GiftCardBalance")
    header = answer.header
    assert header["GatewayRspCode"] == "0" and header["GatewayRspMsg"] == "Success"
    assert header["GatewayTxnId"].isdigit()
    assert answer.service("GiftCardBalance") == {"RspCode": "0", "RspText": "Success", "BalanceAmt": "25.00",
                                                 "PointsBalanceAmt": "120"}
    assert answer.root.tag == f"{{{SOAP}}}Envelope"


def test_the_legacy_sdk_s_prefixed_namespace_and_the_legacy_credentials_are_accepted(portico: Portico) -> None:
    legacy = "".join(f"<{k}>{v}</{k}>" for k, v in DEFAULT_LEGACY.items())
    answer = portico.call("GiftCardBalance", f"<CardData><Alias>{ALIAS}</Alias></CardData>", header=legacy,
                          prefix="hps")
    assert answer.service("GiftCardBalance")["BalanceAmt"] == "25.00"


def test_a_bad_key_is_refused_at_the_gateway_with_no_transaction(portico: Portico) -> None:
    answer = portico.call("GiftCardBalance", f"<CardData><Alias>{ALIAS}</Alias></CardData>",
                          header="<SecretAPIKey>skapi_cert_wrong</SecretAPIKey>")
    assert answer.header["GatewayRspCode"] == "-2" and "Authentication" in answer.header["GatewayRspMsg"]
    assert not answer.has_transaction()
    partial = "".join(f"<{k}>{v}</{k}>" for k, v in list(DEFAULT_LEGACY.items())[:4])
    assert portico.call("GiftCardBalance", "<CardData><Alias>x</Alias></CardData>",
                        header=partial).header["GatewayRspCode"] == "-2"


def test_an_unknown_card_is_an_issuer_answer_not_a_gateway_error(portico: Portico) -> None:
    answer = portico.by_alias("GiftCardBalance", "5550000000")
    assert answer.header["GatewayRspCode"] == "0"
    assert answer.service("GiftCardBalance") == {"RspCode": "3", "RspText": "INVALID CARD DATA"}
    number = "5022440000000000098"
    assert portico.call("GiftCardBalance", f"<CardData><CardNbr>{number}</CardNbr></CardData>").service(
        "GiftCardBalance")["RspCode"] == "3"


def test_a_card_is_found_by_number_track_data_and_token_and_a_wrong_pin_is_refused(portico: Portico) -> None:
    card = portico.sim.card_by_alias(ALIAS)
    assert card is not None
    number, token = card["number"], card["token"]
    for data in (f"<CardNbr>{number}</CardNbr><PIN>1234</PIN>", f"<TrackData>;{number}=2512?</TrackData>",
                 f"<TokenValue>{token}</TokenValue>"):
        found = portico.call("GiftCardBalance", f"<CardData>{data}</CardData>").service("GiftCardBalance")
        assert found["BalanceAmt"] == "25.00", data
    wrong = portico.call("GiftCardBalance", f"<CardData><CardNbr>{number}</CardNbr><PIN>9999</PIN></CardData>")
    assert wrong.service("GiftCardBalance") == {"RspCode": "14", "RspText": "INVALID PIN"}


def test_alias_create_issues_a_card_add_moves_it_and_delete_removes_it(portico: Portico) -> None:
    created = portico.call("GiftCardAlias", "<Action>CREATE</Action><Alias>5557654321</Alias>").service(
        "GiftCardAlias")
    assert created["RspCode"] == "0"
    number = created["CardData"]["CardNbr"]
    assert len(number) == 19 and luhn_valid(number) and created["CardData"]["Alias"] == "5557654321"
    assert portico.by_alias("GiftCardBalance", "5557654321").service("GiftCardBalance")["BalanceAmt"] == "0.00"
    again = portico.call("GiftCardAlias", "<Action>CREATE</Action><Alias>5557654321</Alias>")
    assert again.service("GiftCardAlias")["RspCode"] == "6", "an alias sits on one card only"
    taken = portico.call("GiftCardAlias", f"<Action>ADD</Action><Alias>{ALIAS}</Alias>"
                                          f"<CardData><CardNbr>{number}</CardNbr></CardData>")
    assert taken.service("GiftCardAlias")["RspCode"] == "6"
    added = portico.call("GiftCardAlias", "<Action>ADD</Action><Alias>5550001111</Alias>"
                                          f"<CardData><CardNbr>{number}</CardNbr></CardData>")
    assert added.service("GiftCardAlias") == {"RspCode": "0", "RspText": "Success"}
    assert portico.by_alias("GiftCardBalance", "5550001111").service("GiftCardBalance")["RspCode"] == "0"
    portico.call("GiftCardAlias", "<Action>DELETE</Action><Alias>5550001111</Alias>"
                                  f"<CardData><CardNbr>{number}</CardNbr></CardData>")
    assert portico.by_alias("GiftCardBalance", "5550001111").service("GiftCardBalance")["RspCode"] == "3"


def test_add_value_in_usd_and_in_points(portico: Portico) -> None:
    usd = portico.by_alias("GiftCardAddValue", extra="<Amt>10.50</Amt><Currency>USD</Currency>")
    assert usd.service("GiftCardAddValue")["BalanceAmt"] == "35.50"
    assert usd.service("GiftCardAddValue")["PointsBalanceAmt"] == "120"
    points = portico.by_alias("GiftCardAddValue", extra="<Amt>30</Amt><Currency>POINTS</Currency>")
    assert points.service("GiftCardAddValue")["BalanceAmt"] == "35.50"
    assert points.service("GiftCardAddValue")["PointsBalanceAmt"] == "150"
    cents = portico.by_alias("GiftCardAddValue", extra="<Amt>1.005</Amt><Currency>USD</Currency>")
    assert cents.service("GiftCardAddValue")["RspCode"] == "9", "dollars carry two places"


def test_a_sale_reduces_the_balance_and_a_larger_one_is_partially_approved(portico: Portico) -> None:
    sale = portico.by_alias("GiftCardSale", extra="<Amt>5.25</Amt>").service("GiftCardSale")
    assert sale["RspCode"] == "0" and sale["BalanceAmt"] == "19.75" and sale["AuthCode"]
    partial = portico.by_alias("GiftCardSale", extra="<Amt>30.00</Amt>").service("GiftCardSale")
    assert partial["RspCode"] == "13" and partial["BalanceAmt"] == "0.00"
    assert partial["SplitTenderCardAmt"] == "19.75" and partial["SplitTenderBalanceDueAmt"] == "10.25"
    empty = portico.by_alias("GiftCardSale", extra="<Amt>1.00</Amt>").service("GiftCardSale")
    assert empty["RspCode"] == "5"
    redeemed = portico.by_alias("GiftCardSale", extra="<Amt>100</Amt><Currency>POINTS</Currency>")
    assert redeemed.service("GiftCardSale")["PointsBalanceAmt"] == "20"
    assert portico.by_alias("GiftCardSale", extra="<Amt>21</Amt><Currency>POINTS</Currency>").service(
        "GiftCardSale")["RspCode"] == "5", "points are never partially redeemed"


def test_a_void_takes_back_exactly_what_its_original_moved_once(portico: Portico) -> None:
    sale = portico.by_alias("GiftCardSale", extra="<Amt>5.25</Amt>")
    txn = sale.header["GatewayTxnId"]
    voided = portico.call("GiftCardVoid", f"<GatewayTxnId>{txn}</GatewayTxnId>")
    assert voided.service("GiftCardVoid")["RspCode"] == "0"
    assert voided.service("GiftCardVoid")["BalanceAmt"] == "25.00"
    again = portico.call("GiftCardVoid", f"<GatewayTxnId>{txn}</GatewayTxnId>")
    assert again.header["GatewayRspCode"] == "3" and not again.has_transaction()
    assert portico.sim.state()["transactions"][txn]["voided"] is True


def test_a_reward_earns_points_per_whole_dollar_or_the_points_given(portico: Portico) -> None:
    earned = portico.by_alias("GiftCardReward", extra="<Amt>12.99</Amt><Currency>USD</Currency>")
    assert earned.service("GiftCardReward")["PointsBalanceAmt"] == "132"
    given = portico.by_alias("GiftCardReward", extra="<Amt>8</Amt><Currency>POINTS</Currency>")
    assert given.service("GiftCardReward")["PointsBalanceAmt"] == "140"
    assert given.service("GiftCardReward")["BalanceAmt"] == "25.00"


def test_an_unreadable_request_gets_a_soap_client_fault(portico: Portico) -> None:
    two = request_xml("GiftCardBalance", f"<CardData><Alias>{ALIAS}</Alias><CardNbr>1</CardNbr></CardData>")
    dtd = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>' + request_xml("GiftCardBalance", "")
    no_ns = request_xml("GiftCardBalance", f"<CardData><Alias>{ALIAS}</Alias></CardData>").replace(
        f' xmlns="{POS}"'.encode(), b"")
    for payload in (two, dtd, no_ns, b"not xml"):
        response = portico.post(payload)
        assert response.status_code == 500, payload
        fault = parse(response.content).find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
        assert fault is not None and fault.findtext("faultcode") == "soap:Client"
    assert portico.post(request_xml("GiftCardBalance", ""), "application/json").status_code == 415


def test_injected_5xx_answer_as_iis_would_and_apply_nothing(portico: Portico) -> None:
    route = f"POST {PATH}"
    portico.app.faults.rules = [FaultRule(route, "error", 1.0, status=503, retry_after=2)]
    outage = portico.post(request_xml("GiftCardAddValue", f"<Amt>5</Amt><CardData><Alias>{ALIAS}</Alias></CardData>"))
    assert outage.status_code == 503 and outage.headers["retry-after"] == "2"
    assert outage.headers["content-type"].startswith("text/html") and b"Service Unavailable" in outage.content
    portico.app.faults.rules = [FaultRule(route, "error", 1.0, status=500)]
    failed = portico.post(request_xml("GiftCardBalance", f"<CardData><Alias>{ALIAS}</Alias></CardData>"))
    fault = parse(failed.content).find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    assert failed.status_code == 500 and fault is not None and fault.findtext("faultcode") == "soap:Server"
    portico.app.faults.rules = []
    assert portico.by_alias("GiftCardBalance").service("GiftCardBalance")["BalanceAmt"] == "25.00"
    assert portico.app.faults.injected["error"] == 2


def test_the_control_hook_issues_a_loyalty_card_by_phone_and_answers_it_masked(portico: Portico) -> None:
    answer = portico.http.post("/_portico/cards", json={"balance": "40.00", "points": "75", "aliases": ["5552223333"]})
    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == {"id", "token", "masked_number", "aliases", "balance", "points", "active"}
    assert body["masked_number"].startswith("*" * 15)
    number = portico.sim.state()["cards"][body["id"]]["number"]
    assert number not in answer.text and body["masked_number"].endswith(number[-4:])
    found = portico.by_alias("GiftCardBalance", "5552223333").service("GiftCardBalance")
    assert (found["BalanceAmt"], found["PointsBalanceAmt"]) == ("40.00", "75")
    assert portico.http.post("/_portico/cards", json={"aliases": ["5552223333"]}).status_code == 400
    assert portico.http.post("/_portico/cards", json={"balance": 1.5}).status_code == 400


def test_seeded_cards_are_the_same_per_seed_and_a_snapshot_restores_them() -> None:
    first, second, other = PorticoSimulator(seed=4), PorticoSimulator(seed=4), PorticoSimulator(seed=5)
    assert first.state()["cards"] == second.state()["cards"] != other.state()["cards"]
    cards = first.state()["cards"].values()
    assert any(not c["active"] for c in cards) and any(c["aliases"] for c in cards)
    assert all(luhn_valid(c["number"]) and Decimal(c["balance"]) >= 0 for c in cards)
    first.issue_card(balance="9.99", aliases=["5559990000"])
    restored = PorticoSimulator(seed=99, cards=0)
    restored.restore(first.state())
    assert restored.state()["cards"] == first.state()["cards"]
    card = restored.card_by_alias("5559990000")
    assert card is not None and card["balance"] == "9.99"


def test_activation_loads_an_unactivated_card_once_and_its_void_deactivates_it(portico: Portico) -> None:
    portico.sim.issue_card(aliases=["5553334444"], active=False)
    assert portico.by_alias("GiftCardBalance", "5553334444").service("GiftCardBalance")["RspCode"] == "12"
    activated = portico.by_alias("GiftCardActivate", "5553334444", extra="<Amt>20.00</Amt>")
    assert activated.service("GiftCardActivate")["BalanceAmt"] == "20.00"
    again = portico.by_alias("GiftCardActivate", "5553334444", extra="<Amt>20.00</Amt>")
    assert again.service("GiftCardActivate")["RspCode"] == "5"
    portico.call("GiftCardVoid", f"<GatewayTxnId>{activated.header['GatewayTxnId']}</GatewayTxnId>")
    assert portico.by_alias("GiftCardBalance", "5553334444").service("GiftCardBalance")["RspCode"] == "12"
