from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from pathlib import Path

import msgspec
import pytest

from sandbox.scenario.payments_month import Label, evaluate, generate, locations
from shared.anomalies.detector import Flag, LocationsError, Thresholds, detect, load_locations
from shared.anomalies.rows import Reader, Row
from tests.anomalies.conftest import LOCATIONS

Make = Callable[..., Row]


def flagged(rows: list[Row], pattern: str | None = None) -> list[Flag]:
    return [f for f in detect(rows, LOCATIONS) if pattern is None or f.pattern == pattern]


def test_card_testing_on_one_card_names_the_attempts(row: Make) -> None:
    rows = [row(i, location="ECOM", amount=f"{1 + i}.00", result="DECLINED" if i % 3 else "APPROVED",
                entry_mode="ECOM", card_fingerprint="fp_t", masked_card="555555******9999") for i in range(6)]
    flags = flagged(rows, "card_testing")
    assert {f.id for f in flags} == {r.id for r in rows}
    assert "6 small or declined attempts on card …9999" in flags[-1].reason and "4 declined" in flags[-1].reason


def test_card_testing_across_many_cards_at_one_location(row: Make) -> None:
    rows = [row(i * 0.5, location="ECOM", amount="1.00", card_fingerprint=f"fp_{i}", entry_mode="ECOM",
                result="APPROVED" if i in (3, 9) else "DECLINED") for i in range(10)]
    flags = flagged(rows, "card_testing")
    assert {f.id for f in flags} == {r.id for r in rows}
    assert "from 8 different cards at ECOM" in flags[-1].reason
    busy_cafe = [row(i * 0.5, location="CHI02", amount="4.50", card_fingerprint=f"fp_{i}", entry_mode=mode,
                     result="DECLINED") for i, mode in enumerate(["CHIP", "CONTACTLESS", "SWIPE"] * 4)]
    assert flagged(busy_cafe) == [], "declines of cards held in the hand are no test of stolen numbers"


def test_a_decline_retried_on_the_same_card_is_not_card_testing(row: Make) -> None:
    rows = [row(0, result="DECLINED", amount="54.20"), row(1, result="DECLINED", amount="54.20"),
            row(2, amount="54.20")]
    assert flagged(rows) == []


def test_a_decline_retried_at_one_amount_is_one_attempt_however_often(row: Make) -> None:
    retried = [row(i * 0.5, result="DECLINED", amount="4.50") for i in range(6)]
    assert flagged(retried) == []
    walked = [row(i * 0.5, result="DECLINED", amount=f"{1 + i}.37", card_fingerprint="fp_w") for i in range(5)]
    assert {f.id for f in flagged(walked, "card_testing")} == {r.id for r in walked}


def test_duplicate_charge_flags_the_second_with_both_ids(row: Make) -> None:
    first, second = row(0, amount="49.99"), row(1.5, amount="49.99")
    flags = flagged([first, second, row(3, amount="12.00")])
    assert [(f.id, f.pattern) for f in flags] == [(second.id, "duplicate_charge")]
    assert "2nd approved charge of 49.99 USD on card …1234 at CHI01" in flags[0].reason
    assert first.id in flags[0].reason and second.id in flags[0].reason


def test_same_amount_after_a_void_or_a_decline_is_no_duplicate(row: Make) -> None:
    rows = [row(0, amount="30.00"), row(0.5, type="VOID", amount="30.00"), row(1, amount="30.00"),
            row(20, amount="18.00", result="DECLINED"), row(21, amount="18.00")]
    assert flagged(rows) == []


def test_refund_above_its_sale_by_reference_and_by_card(row: Make) -> None:
    rows = [row(0, amount="20.00", reference="R1"), row(60, type="REFUND", amount="150.00", reference="R1"),
            row(0, amount="10.00", card_fingerprint="fp_b"),
            row(90, type="REFUND", amount="80.00", card_fingerprint="fp_b")]
    flags = flagged(rows, "refund_without_sale")
    assert [f.id for f in flags] == [rows[1].id, rows[3].id]
    assert "more than the 20.00 USD left of the approved sales of reference R1" in flags[0].reason
    assert "no reference" in flags[1].reason and "10.00 USD" in flags[1].reason


def test_refund_to_a_card_never_used_there(row: Make) -> None:
    sale = row(0, amount="60.00", reference="R9")
    refund = row(30, type="REFUND", amount="60.00", reference="R9", card_fingerprint="fp_x",
                 masked_card="400000******7777")
    flags = flagged([sale, refund])
    assert [(f.id, f.pattern) for f in flags] == [(refund.id, "refund_to_new_card")]
    assert "card …7777, a card never used for a sale at CHI01" in flags[0].reason and "…1234" in flags[0].reason


def test_large_refund_after_hours_but_not_a_small_matching_one(row: Make) -> None:
    big_sale, small_sale = row(0, amount="450.00", reference="B"), row(1, amount="18.00", reference="S")
    late_big = row(10 * 60, type="REFUND", amount="450.00", reference="B")  # 22:00 local
    late_small = row(10 * 60 + 5, type="REFUND", amount="18.00", reference="S")
    flags = flagged([big_sale, small_sale, late_big, late_small])
    assert [(f.id, f.pattern) for f in flags] == [(late_big.id, "off_hours_refund")]
    assert "at 22:00 local time, 1 h 0 min outside its opening hours 08:00 to 21:00" in flags[0].reason


def test_void_spike_but_not_a_trainees_few_voids(row: Make) -> None:
    rows = [row(i * 3, cashier=f"C{i % 4}", amount=f"{10 + i}.00") for i in range(200)]
    spike = [row(600 + i * 5, type="VOID", cashier="C9", amount=f"{i + 1}.50") for i in range(7)]
    trainee = [row(700 + i * 10, type="VOID", cashier="T1", amount=f"{i + 1}.25") for i in range(4)]
    flags = flagged(rows + spike + trainee, "void_spike")
    assert {f.id for f in flags} == {r.id for r in spike}
    assert "7 voids by cashier C9 at CHI01 within 30 min" in flags[-1].reason


def test_a_void_spike_in_a_locations_first_hour_is_judged_by_the_usual_rate(row: Make) -> None:
    """With no history, the spike's own voids would make the location's rate and hide it."""
    rows = [row(i, cashier=f"C{i % 3}", amount=f"{10 + i}.00") for i in range(40)]
    spike = [row(5 + i * 4, type="VOID", cashier="C9", amount=f"{i + 1}.50") for i in range(6)]
    assert {f.id for f in flagged(rows + spike, "void_spike")} == {r.id for r in spike}


def test_a_store_that_takes_big_baskets_is_judged_by_its_own_tail(row: Make) -> None:
    rng = random.Random(5)
    usual = [f"{40 * 2.718 ** rng.gauss(0, 0.6):.2f}" for _ in range(400)]
    catering = [f"{40 * rng.uniform(8, 25):.2f}" if i % 50 == 0 else a for i, a in enumerate(usual)]
    for history, found in ((usual, True), (catering, False)):
        rows = [row(i * 0.1, amount=a, card_fingerprint=f"fp_{i}") for i, a in enumerate(history)]
        basket = row(100, amount="1500.00", card_fingerprint="fp_basket")  # 37 times the median
        assert bool(flagged([*rows, basket], "amount_outlier")) is found


def test_amount_outlier_but_not_a_big_basket(row: Make) -> None:
    rng = random.Random(3)
    history = [row(i, amount=f"{40 * 2.718 ** rng.gauss(0, 0.6):.2f}", card_fingerprint=f"fp_{i}")
               for i in range(300)]
    big, huge = row(400, amount="240.00", card_fingerprint="fp_big"), row(401, amount="2400.00",
                                                                         card_fingerprint="fp_huge")
    flags = flagged([*history, big, huge], "amount_outlier")
    assert [f.id for f in flags] == [huge.id]
    assert "2,400.00 USD at CHI01 is" in flags[0].reason and "times its median sale" in flags[0].reason


def test_impossible_travel_but_not_one_metro_online_or_a_long_trip(row: Make) -> None:
    rows = [row(0, card_fingerprint="fp_j"), row(40, location="NYC01", card_fingerprint="fp_j"),
            row(0, card_fingerprint="fp_k"), row(20, location="CHI02", card_fingerprint="fp_k"),
            row(25, location="ECOM", entry_mode="ECOM", card_fingerprint="fp_k"),
            row(0, card_fingerprint="fp_l"), row(7 * 60, location="NYC01", card_fingerprint="fp_l")]
    flags = flagged(rows)
    assert [(f.id, f.pattern) for f in flags] == [(rows[1].id, "impossible_travel")]
    assert "at NYC01 (NYC) 40 min after CHI01 (CHI)" in flags[0].reason and "km/h" in flags[0].reason


def test_unsorted_input_gives_the_same_flags(row: Make) -> None:
    rows = [row(0, amount="49.99"), row(1, amount="49.99"), row(2, amount="49.99"),
            *[row(5 + i, location="ECOM", amount="1.00", card_fingerprint=f"fp_{i}", result="DECLINED",
                  entry_mode="ECOM")
              for i in range(7)]]
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    assert detect(shuffled, LOCATIONS) == detect(rows, LOCATIONS)
    assert all(0 < f.score <= 1 for f in detect(rows, LOCATIONS))


def test_thresholds_are_settings(row: Make) -> None:
    rows = [row(0, amount="49.99"), row(20, amount="49.99")]
    assert detect(rows, LOCATIONS) == []
    assert [f.pattern for f in detect(rows, LOCATIONS, settings=Thresholds(duplicate_window_s=3600))] == \
        ["duplicate_charge"]


def test_locations_file_is_checked(tmp_path: Path) -> None:
    good = tmp_path / "l.json"
    good.write_text('{"CHI01": {"metro": "CHI", "opens": "08:00", "closes": "21:00"}, "ECOM": {"online": true}}')
    assert load_locations(good)["ECOM"].online
    bad = tmp_path / "bad.json"
    bad.write_text('{"CHI01": {"metro": "CHI", "opens": "8 am", "closes": "21:00"}}')
    with pytest.raises(LocationsError, match="CHI01: '8 am' is not a time of day"):
        load_locations(bad)


@pytest.mark.parametrize(("month", "seed"), [(date(2026, 11, 1), 7), (date(2027, 3, 1), 31)])
def test_a_labelled_week_scores_f1_of_at_least_0_9(month: date, seed: int, tmp_path: Path) -> None:
    rows, truth = generate(month, seed, rows_per_day=1500, days=7)
    lines = [msgspec.json.encode(r) for r in rows]
    reader = Reader("week")
    (tmp_path / "locations.json").write_bytes(msgspec.json.encode(locations()))
    flags = detect(reader.rows(lines), load_locations(tmp_path / "locations.json"))
    figures = evaluate(flags, truth)
    assert reader.malformed == 0
    assert figures.overall.f1 >= 0.9, figures
    assert figures.incidents.f1 >= 0.85, figures.incidents
    assert all(s.tp + s.fn > 0 for s in figures.patterns.values()), "every pattern is planted"
    assert all(s.tp + s.fn > 0 for s in figures.incident_patterns.values()), "every pattern has incidents"
    assert all(total > 0 for total, _ in figures.look_alikes.values()), "every look-alike is planted"
    assert sum(flagged_ for _, flagged_ in figures.look_alikes.values()) <= 2


def test_an_incident_is_found_by_any_of_its_rows_and_a_false_alarm_counts_once_a_row() -> None:
    truth = {"a1": Label("card_testing", incident="burst"), "a2": Label("card_testing", incident="burst"),
             "b1": Label("duplicate_charge", incident="dup"), "n1": Label("none", "decline_retry")}
    flags = [Flag("a2", "card_testing", 0.5, ""), Flag("n1", "card_testing", 0.5, ""),
             Flag("n1", "amount_outlier", 0.5, ""), Flag("o1", "duplicate_charge", 0.5, "")]
    figures = evaluate(flags, truth)
    assert (figures.overall.tp, figures.overall.fp, figures.overall.fn) == (1, 3, 2)
    assert (figures.incidents.tp, figures.incidents.fp, figures.incidents.fn) == (1, 2, 1)
    assert figures.incident_patterns["card_testing"].tp == 1 and figures.incident_patterns["duplicate_charge"].fn == 1
    assert figures.missed_incidents == ["dup"] and figures.ordinary_flagged == 1
    assert figures.look_alikes["decline_retry"] == (1, 1)


def test_the_month_is_not_clean() -> None:
    """Amounts repeat by chance and run past three sigma; refunds come late, in part, without a reference."""
    rows, _ = generate(date(2026, 11, 1), 3, rows_per_day=1500, days=28, plants=2)
    sales = [r for r in rows if r["type"] == "SALE" and r["location"] == "CHI02"]
    amounts = [r["amount"] for r in sales]
    assert max(amounts.count(a) for a in set(amounts)) > len(amounts) / 50, "menu prices repeat"
    refunds = [r for r in rows if r["type"] == "REFUND"]
    assert sum(not r["reference"] for r in refunds) > len(refunds) / 10
    sold = {r["reference"]: r for r in rows if r["type"] == "SALE"}
    late = [r for r in refunds if r["reference"] in sold and r["time"][:10] > sold[r["reference"]]["time"][:10]]
    assert any(int(r["time"][8:10]) - int(sold[r["reference"]]["time"][8:10]) >= 14 for r in late)
    assert any(float(r["amount"]) < float(sold[r["reference"]]["amount"]) for r in late)
    small_ecom_declines = [r for r in rows if r["location"] == "ECOM" and r["result"] == "DECLINED"
                           and float(r["amount"]) <= 10]
    assert len(small_ecom_declines) > 28


def test_stores_trade_on_their_own_clocks_across_daylight_saving() -> None:
    rows, _ = generate(date(2026, 3, 1), 5, rows_per_day=300, days=10)
    assert {r["time"][-6:] for r in rows if r["location"] == "CHI01"} == {"-06:00", "-05:00"}
    assert {r["time"][-6:] for r in rows if r["location"] == "LAX01"} == {"-08:00", "-07:00"}


def test_on_a_short_window_a_refund_of_a_sale_outside_it_is_not_evidence(row: Make) -> None:
    """The live watch reads one day: last month's purchase returned today is judged by nothing it holds; a refund
    of a sale it does hold, to another card, still is."""
    stream = Thresholds(judge_unknown_refunds=False)
    old_sale_returned = row(10, type="REFUND", amount="80.00", card_fingerprint="fp_z", reference="S-OLD")
    sale = row(20, amount="40.00", card_fingerprint="fp_b", reference="S-1")
    refund_elsewhere = row(30, type="REFUND", amount="40.00", card_fingerprint="fp_c", reference="S-1")
    found = detect([old_sale_returned, sale, refund_elsewhere], LOCATIONS, settings=stream)
    assert [(f.id, f.pattern) for f in found] == [(refund_elsewhere.id, "refund_to_new_card")]
    judged = detect([old_sale_returned, sale, refund_elsewhere], LOCATIONS)
    assert {(f.id, f.pattern) for f in judged} >= {(old_sale_returned.id, "refund_without_sale"),
                                                   (old_sale_returned.id, "refund_to_new_card")}
