"""The matcher on the cases a data steward checks first: duplicates it must join, look-alikes it must not."""

from typing import Any

import pytest

from sandbox.scenario.customers import generate, lookalikes, pairwise
from shared.customers.matching import MatchRules, match
from shared.customers.normalize import record


def clusters(*rows: dict[str, Any]) -> dict[str, str]:
    return match([record({"source": "pos", **row}) for row in rows]).clusters


def together(found: dict[str, str], *ids: str) -> bool:
    return len({found[i] for i in ids}) == 1


def test_one_customer_typed_four_ways_is_one_profile() -> None:
    found = clusters(
        {"id": "a", "source": "erp", "first_name": "Robert", "last_name": "Young", "email": "rob.young@gmail.com",
         "phone": "(860) 771-9390", "address_line1": "5585 East Franklin Place", "city": "Hartford", "state": "CT",
         "postal_code": "06127"},
        {"id": "b", "source": "pos", "first_name": "Bob", "last_name": "YOUNG", "phone": "860.771.9390",
         "postal_code": "6127"},
        {"id": "c", "source": "loyalty", "first_name": "Young", "last_name": "Robert",
         "email": "RobYoung+points@gmail.com", "city": "Hartford", "state": "Connecticut"},
        {"id": "d", "source": "crm", "first_name": "Robert J.", "last_name": "Yuong", "email": "rob.young@gmail.com",
         "address_line1": "5585 E Franklin Pl", "postal_code": "06127-4410"},
    )
    assert together(found, "a", "b", "c", "d")


HOME = {"address_line1": "238 2nd Street Apt 35", "city": "Cambridge", "state": "MA", "postal_code": "02139",
        "phone": "617-491-6204"}


def test_a_household_sharing_address_home_phone_and_family_email_is_several_customers() -> None:
    found = clusters(
        {"id": "matt", "first_name": "Matthew", "last_name": "Yamamoto", "email": "yamamotofamily@outlook.com", **HOME},
        {"id": "laura", "first_name": "Laura", "last_name": "Yamamoto", "email": "yamamotofamily@outlook.com", **HOME},
        {"id": "kid", "first_name": "Kenji", "last_name": "Yamamoto", **HOME},
        {"id": "matt2", "first_name": "Matt", "last_name": "Yamamoto", "email": "yamamotofamily@outlook.com", **HOME},
    )
    assert together(found, "matt", "matt2")
    assert len({found["matt"], found["laura"], found["kid"]}) == 3


def test_father_and_son_of_one_name_at_one_address_are_two_customers() -> None:
    found = clusters(
        {"id": "sr", "first_name": "James", "last_name": "Young Sr.", "email": "jamesyou36@comcast.net", **HOME},
        {"id": "sr2", "first_name": "James", "last_name": "Young", "email": "jamesyou36@comcast.net", **HOME},
        {"id": "jr", "first_name": "James", "last_name": "Young, Jr.", "email": "james.young@hotmail.com", **HOME},
        {"id": "jr2", "first_name": "Jim", "last_name": "Young Jr", "email": "james.young@hotmail.com"},
    )
    assert together(found, "sr", "sr2") and together(found, "jr", "jr2")
    assert found["sr"] != found["jr"]


def test_the_commonest_name_in_different_cities_is_different_people() -> None:
    found = clusters(
        {"id": "chi", "first_name": "John", "last_name": "Smith", "city": "Chicago", "state": "IL",
         "postal_code": "60614", "phone": "312-555-0100"},
        {"id": "dal", "first_name": "John", "last_name": "Smith", "city": "Dallas", "state": "TX",
         "postal_code": "75201", "phone": "214-555-0100"},
        {"id": "sea", "first_name": "John", "last_name": "Smith", "city": "Seattle", "state": "WA",
         "email": "john.smith@gmail.com"},
    )
    assert len(set(found.values())) == 3


def test_near_named_businesses_and_franchises_are_kept_apart() -> None:
    found = clusters(
        {"id": "north", "company": "Northside Dental", "address_line1": "100 Main St", "city": "Austin",
         "state": "TX", "postal_code": "78701", "phone": "512-555-0101"},
        {"id": "north2", "company": "NORTHSIDE DENTAL LLC", "address_line1": "100 Main Street", "city": "Austin",
         "state": "TX", "postal_code": "78701"},
        {"id": "south", "company": "Southside Dental", "address_line1": "180 Main St", "city": "Austin",
         "state": "TX", "postal_code": "78701", "phone": "512-555-0199"},
        {"id": "east", "company": "Eastside Dental", "city": "Austin", "state": "TX", "postal_code": "78701"},
        {"id": "west", "company": "Westside Dental", "city": "Austin", "state": "TX", "postal_code": "78701"},
        {"id": "pp1", "company": "Pizza Palace", "address_line1": "9 Elm St", "city": "Denver", "state": "CO",
         "postal_code": "80202", "email": "infodenver@pizzapalace.com"},
        {"id": "pp2", "company": "Pizza Palace Inc.", "address_line1": "77 Oak Ave", "city": "Phoenix",
         "state": "AZ", "postal_code": "85001", "email": "infophoenix@pizzapalace.com"},
    )
    assert together(found, "north", "north2")
    assert len({found[i] for i in ("north", "south", "east", "west", "pp1", "pp2")}) == 6


def test_an_uncertain_pair_goes_to_review_with_its_evidence() -> None:
    result = match([record(r) for r in (
        {"id": "a", "source": "crm", "first_name": "Ana", "last_name": "Ruiz", "city": "Austin", "state": "TX"},
        {"id": "b", "source": "pos", "first_name": "Ana", "last_name": "Ruiz", "city": "Austin", "state": "TX",
         "phone": "512-555-0111"},
    )], MatchRules(threshold=0.99, review_from=0.05))
    assert result.clusters["a"] != result.clusters["b"]
    [pair] = result.review
    assert {pair.left, pair.right} == {"a", "b"} and 0.05 <= pair.probability < 0.99
    assert any(reason.startswith("name: same first and last name") for reason in pair.reasons)


def test_two_records_with_one_id_are_refused() -> None:
    with pytest.raises(ValueError, match="'x' is on more than one record"):
        match([record({"id": "x", "first_name": "A"}), record({"id": "x", "first_name": "B"})])


def test_the_review_band_lies_below_the_threshold() -> None:
    with pytest.raises(ValueError, match="review_from"):
        MatchRules(threshold=0.8, review_from=0.9)


@pytest.mark.parametrize("seed", [3, 19])
def test_planted_duplicates_are_found_and_look_alikes_kept_apart(seed: int) -> None:
    rows, truth = generate(5000, seed)
    found = match([record(r) for r in rows]).clusters
    score = pairwise(found, {k: v.entity for k, v in truth.items()})
    assert score.f1 >= 0.97, score
    cases = lookalikes(found, truth)
    assert set(cases) == {"common_name", "father_son", "franchise", "household", "near_named"}
    for case, (pairs, merged) in cases.items():
        assert pairs > 100 and merged <= pairs * 0.01, (case, pairs, merged)
