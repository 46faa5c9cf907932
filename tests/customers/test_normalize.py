"""Normalisation: the spellings one customer comes in from four systems read as one."""

import pytest

from shared.customers import normalize


@pytest.mark.parametrize(("written", "expected"), [
    ("J.Smith+promo@GMail.com", "jsmith@gmail.com"),
    ("j.s.m.i.t.h@googlemail.com", "jsmith@gmail.com"),
    ("ana.ruiz+pos@outlook.com", "ana.ruiz@outlook.com"),  # Outlook drops tags but keeps dots
    ("Ana.Ruiz+x@yahoo.com", "ana.ruiz+x@yahoo.com"),  # a provider not known to ignore them: as written
    (" ANA@Example.COM ", "ana@example.com"),
    ("not an address", ""),
    ("@example.com", ""),
    (None, ""),
])
def test_email(written: object, expected: str) -> None:
    assert normalize.email(written) == expected


@pytest.mark.parametrize("written", ["(312) 555-0182", "312.555.0182", "+1 312 555 0182", "3125550182",
                                     "13125550182", "312-555-0182"])
def test_phones_in_every_format_are_one_e164_number(written: str) -> None:
    assert normalize.phone(written) == "+13125550182"


@pytest.mark.parametrize("written", ["", "n/a", "12", "555-01"])
def test_what_is_not_a_phone_number_is_unknown(written: str) -> None:
    assert normalize.phone(written) == ""


@pytest.mark.parametrize(("written", "country", "expected"), [
    ("02134-1234", "US", "02134"), ("021341234", "US", "02134"), ("2134", "US", "02134"), ("602", "US", "00602"),
    ("60614", "US", "60614"), ("ABCDE", "US", ""), ("k1a 0b1", "CA", "K1A0B1"),
])
def test_postal_codes(written: str, country: str, expected: str) -> None:
    assert normalize.postal_code(written, country) == expected


def test_usps_abbreviations_make_one_address_of_many_spellings() -> None:
    spellings = ["123 North Main Street Apartment 4B", "123 N Main St #4B", "123 N. MAIN ST., Apt. 4B",
                 "123 north main st unit 4b"]
    assert {normalize.address(s) for s in spellings} == {("123", "n main st", "4b")}
    assert normalize.address("PO Box 55") == ("", "po box 55", "")
    assert normalize.address("4700 West 95th Street Suite 200") == ("4700", "w 95th st", "200")


@pytest.mark.parametrize(("a", "b"), [("Acme, Inc.", "ACME"), ("Smith & Sons LLC", "smith and sons"),
                                      ("The Corner Bakery Co.", "Corner Bakery")])
def test_legal_forms_never_tell_companies_apart(a: str, b: str) -> None:
    assert normalize.company(a) == normalize.company(b) != ""


def test_near_named_businesses_stay_different() -> None:
    assert normalize.company("Northside Dental, LLC") != normalize.company("Southside Dental LLC")


@pytest.mark.parametrize(("first", "last", "expected"), [
    ("John Q.", "Smith Jr.", ("john", "q", "smith", "jr")),
    ("Smith, John Q. Jr.", "", ("john", "q", "smith", "jr")),  # a whole name in one field
    ("", "John Smith", ("john", "", "smith", "")),
    ("Rob", "Young, Sr.", ("rob", "", "young", "sr")),
    ("JOHN", "SMITH III", ("john", "", "smith", "iii")),
    ("Dr. Mary", "Van der Berg", ("mary", "", "vanderberg", "")),
    ("Melissa N", "King", ("melissa", "n", "king", "")),  # "King" is a title to nameparser, a surname here
    ("Whitfield Jr.", "Ronald", ("whitfield", "", "ronald", "jr")),  # swapped fields keep their suffix
    ("Evans", "Ben R.", ("evans", "r", "ben", "")),
])
def test_names(first: str, last: str, expected: tuple[str, str, str, str]) -> None:
    assert normalize.person(first.lower(), last.lower()) == expected


def test_nicknames_are_known_both_ways_but_not_through_a_shared_short_form() -> None:
    bob = normalize.record({"id": 1, "first_name": "Bob", "last_name": "Smith"})
    robert = normalize.record({"id": 2, "first_name": "Robert", "last_name": "Smith"})
    assert set(bob.first_variants) & set(robert.first_variants)
    melissa = normalize.record({"id": 3, "first_name": "Melissa", "last_name": "Smith"})
    elizabeth = normalize.record({"id": 4, "first_name": "Elizabeth", "last_name": "Smith"})
    assert not set(melissa.first_variants) & set(elizabeth.first_variants)  # both "Lisa", not one person


def test_accents_and_apostrophes_do_not_make_another_person() -> None:
    a = normalize.record({"id": 1, "first_name": "Siobhán", "last_name": "O'Brien"})
    b = normalize.record({"id": 2, "first_name": "SIOBHAN", "last_name": "OBrien"})
    assert (a.first, a.last) == (b.first, b.last) == ("siobhan", "obrien")


def test_a_record_reads_missing_values_as_unknown() -> None:
    r = normalize.record({"id": 7, "source": "pos", "first_name": None, "last_name": "", "email": None,
                          "state": "Illinois", "country": "United States", "postal_code": None})
    assert (r.first, r.last, r.email, r.zip5, r.state, r.country) == ("", "", "", "", "il", "US")
    assert r.id == "7" and r.id_was_number
