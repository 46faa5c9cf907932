"""Which customer records are one real customer: Fellegi-Sunter record linkage through splink.

Normalised records (``normalize``) are compared only within blocks that share an exact key (an e-mail, a
phone, a house number on a ZIP, a name in a town, a company in a town, a name written backwards), so the
work grows with the records, not with their square. Each compared pair gets, per field, the level it
agrees at (exact, nickname, typo, different…), and each level a Bayes factor m/u: *m*, how often true
duplicates agree so, is the model below, written from how customer data goes wrong; *u*, how often two
random customers agree so, is measured on the data itself. The sum of their logs is the match weight.
splink runs it on embedded DuckDB here and, unchanged, on Spark when a customer base outgrows one machine.

Some levels are near-vetoes, because agreement elsewhere is what look-alikes share: a household shares
an address, a home phone and sometimes a family e-mail but not a first name; father and son share all of
that and a name, but not the generation suffix; Northside and Southside Dental share a town and a trade.

Pairs at or above ``threshold`` are linked and linked pairs form clusters; pairs between ``review_from``
and ``threshold`` go to a person, with the evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.customers.normalize import Normalized
from shared.customers.rules import MatchRules

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Level:
    label: str
    sql: str
    m: float
    u: float
    fixed: bool = False
    """A near-veto: random pairs almost never show it, so a measured u would make it look like a match."""


@dataclass(frozen=True)
class Field_:
    name: str
    null: str
    levels: tuple[Level, ...]
    else_m: float
    else_u: float
    else_label: str = "different"


_BOTH = "({c}_l IS NULL OR {c}_r IS NULL)"

MODEL: tuple[Field_, ...] = (
    Field_("name", "(first_l IS NULL OR first_r IS NULL OR last_l IS NULL OR last_r IS NULL)", (
        Level("same first and last name", "first_l = first_r AND last_l = last_r", 0.72, 0.0005),
        Level("first and last name swapped",
              "(first_l = last_r AND (jaro_winkler_similarity(last_l, first_r) >= 0.82 "
              "OR list_has_any(last_variants_l, first_variants_r))) OR "
              "(last_l = first_r AND (jaro_winkler_similarity(first_l, last_r) >= 0.82 "
              "OR list_has_any(first_variants_l, last_variants_r)))", 0.03, 0.000001),
        Level("same last name, first name a nickname of the other",
              "last_l = last_r AND list_has_any(first_variants_l, first_variants_r)", 0.12, 0.0002),
        Level("both names alike (a typo)",
              "first_l[1] = first_r[1] AND (jaro_winkler_similarity(first_l, first_r) >= 0.88 "
              "OR damerau_levenshtein(first_l, first_r) <= 1) AND (jaro_winkler_similarity(last_l, last_r) >= 0.88 "
              "OR (first_l = first_r AND damerau_levenshtein(last_l, last_r) <= 1))", 0.09, 0.001),
        Level("same last name, first given as an initial",
              "last_l = last_r AND (length(first_l) = 1 OR length(first_r) = 1) AND first_l[1] = first_r[1]",
              0.02, 0.0001),
        Level("one name nickname-alike, the other a typo",
              "list_has_any(first_variants_l, first_variants_r) AND jaro_winkler_similarity(last_l, last_r) >= 0.88",
              0.005, 0.0005),
    ), else_m=1e-18, else_u=0.998, else_label="different first or last name"),
    Field_("generation", "FALSE", (
        Level("generation suffixes differ (Jr. and Sr.)", "g_l <> '' AND g_r <> '' AND g_l <> g_r", 1e-12, 0.1, True),
        Level("one is Jr./II/III, the other has no suffix",
              "(g_l = '' AND g_r IN ('jr', 'ii', 'iii', 'iv')) OR (g_r = '' AND g_l IN ('jr', 'ii', 'iii', 'iv'))",
              1e-15, 0.1, True),
        Level("one is Sr., the other has no suffix", "(g_l = '' AND g_r = 'sr') OR (g_r = '' AND g_l = 'sr')",
              0.03, 0.02),
    ), else_m=0.97, else_u=0.97, else_label="same generation"),
    Field_("email", _BOTH.format(c="email"), (
        Level("same e-mail", "email_l = email_r", 0.82, 0.00001),
        Level("e-mail alike (a typo)", "jaro_winkler_similarity(email_l, email_r) >= 0.94", 0.04, 0.0001),
    ), else_m=0.14, else_u=0.99989),
    Field_("phone", _BOTH.format(c="phone"), (
        Level("same phone", "phone_l = phone_r", 0.85, 0.00001),
    ), else_m=0.15, else_u=0.99999),
    Field_("address", "((street_l IS NULL OR street_r IS NULL OR house_number_l IS NULL OR house_number_r IS NULL) "
                      "AND (zip5_l IS NULL OR zip5_r IS NULL) AND (city_l IS NULL OR city_r IS NULL))", (
        Level("same street address", "house_number_l = house_number_r AND street_l = street_r", 0.80, 0.00002),
        Level("same house number, street alike",
              "house_number_l = house_number_r AND jaro_winkler_similarity(street_l, street_r) >= 0.85",
              0.05, 0.0001),
        Level("same ZIP code, street not known on both",
              "zip5_l = zip5_r AND (street_l IS NULL OR street_r IS NULL)", 0.10, 0.001),
        Level("same city, street not known on both",
              "city_l = city_r AND state_l IS NOT DISTINCT FROM state_r AND (street_l IS NULL OR street_r IS NULL)",
              0.03, 0.02),
        Level("same town, another street", "zip5_l = zip5_r OR city_l = city_r", 0.01, 0.01),
    ), else_m=0.01, else_u=0.96888, else_label="elsewhere"),
    Field_("unit", "(unit_l IS NULL OR unit_r IS NULL)", (
        Level("same unit", "unit_l = unit_r", 0.95, 0.05),
    ), else_m=0.05, else_u=0.95, else_label="different unit"),
    Field_("company", _BOTH.format(c="company"), (
        Level("same company", "company_l = company_r", 0.82, 0.001),
        Level("company alike (a typo)", "damerau_levenshtein(company_l, company_r) <= 1", 0.12, 0.0001),
        Level("company names similar", "jaro_winkler_similarity(company_l, company_r) >= 0.92", 0.02, 0.002),
    ), else_m=0.04, else_u=0.9969, else_label="different company"),
)
"""m and u of every level. The u are defaults for a customer base too small to measure them on; above
``MEASURE_U_FROM`` records they are measured, except where ``fixed``."""

MEASURE_U_FROM = 2_000

BLOCKS = (
    "l.email = r.email",
    "l.phone = r.phone",
    "l.house_number = r.house_number AND l.zip5 = r.zip5",
    "l.house_number = r.house_number AND l.street = r.street AND l.city = r.city",
    "l.last = r.last AND l.zip5 = r.zip5",
    "l.first = r.first AND l.last = r.last AND l.city = r.city",
    "l.first = r.last AND l.last = r.first",
    "l.company = r.company AND l.city = r.city",
)
"""Pairs are only ever scored inside one of these; a true pair that shares none of them is not found."""

COLUMNS = ("id", "source", "first", "first_variants", "last_variants", "last", "generation",
           "company", "email", "phone", "house_number", "street", "unit", "city", "state", "zip5")


def _sql(text: str) -> str:
    return text.replace("g_l", "coalesce(generation_l, '')").replace("g_r", "coalesce(generation_r, '')")


def _comparison(field: Field_) -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    levels: list[Any] = []
    if field.null != "FALSE":
        levels.append(cll.CustomLevel(field.null, label_for_charts="not known on both").configure(is_null_level=True))
    for level in field.levels:
        custom = cll.CustomLevel(_sql(level.sql), label_for_charts=level.label)
        levels.append(custom.configure(m_probability=level.m, u_probability=level.u, fix_u_probability=level.fixed))
    levels.append(cll.ElseLevel().configure(m_probability=field.else_m, u_probability=field.else_u,
                                            label_for_charts=field.else_label))
    return cl.CustomComparison(levels, output_column_name=field.name, comparison_description=field.name)


def _labels() -> dict[str, dict[int, str]]:
    """gamma value → level label per field: splink numbers the non-null levels down to 0, null is -1."""
    out: dict[str, dict[int, str]] = {}
    for field in MODEL:
        labels = [level.label for level in field.levels] + [field.else_label]
        out[field.name] = {len(labels) - 1 - i: label for i, label in enumerate(labels)}
        out[field.name][-1] = "not known on both"
    return out


@dataclass(frozen=True)
class ReviewPair:
    left: str
    right: str
    probability: float
    weight: float
    reasons: tuple[str, ...]

    def row(self) -> dict[str, Any]:
        return {"id_l": self.left, "id_r": self.right, "match_probability": round(self.probability, 4),
                "match_weight": round(self.weight, 2), "reasons": list(self.reasons)}


@dataclass(frozen=True)
class Matches:
    clusters: dict[str, str]
    """record id → cluster id (the id of one of its records), for every record."""
    review: list[ReviewPair]

    @property
    def profiles(self) -> int:
        return len(set(self.clusters.values()))


def _frame(records: Sequence[Normalized]) -> Any:
    import pandas as pd

    lists = ("first_variants", "last_variants")
    rows = [{c: list(getattr(r, c)) if c in lists else (getattr(r, c) or None) for c in COLUMNS} for r in records]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def match(records: Sequence[Normalized], rules: MatchRules | None = None) -> Matches:
    """Cluster ``records``; raises ``ValueError`` on two records with one id."""
    rules = rules or MatchRules()
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        twice = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise ValueError(f"id {twice!r} is on more than one record; ids must be unique")
    if len(records) < 2:
        return Matches({i: i for i in ids}, [])
    from splink import DuckDBAPI, Linker, SettingsCreator

    logging.getLogger("splink").setLevel(logging.ERROR)  # it warns of levels random pairs never reach
    # The prior, as if the file were a customer base of at least a thousand: two records of a short file
    # are not likelier to be one customer than two of a long one are.
    prior = rules.duplicates_per_100 / 100 / max(999, len(records) - 1)
    settings = SettingsCreator(
        link_type="dedupe_only", unique_id_column_name="id", probability_two_random_records_match=prior,
        comparisons=[_comparison(field) for field in MODEL],
        blocking_rules_to_generate_predictions=[{"blocking_rule": rule} for rule in BLOCKS],
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=True, additional_columns_to_retain=[],
    )
    linker = Linker(_frame(records), settings, db_api=DuckDBAPI(), set_up_basic_logging=False)
    if len(records) >= MEASURE_U_FROM:
        linker.training.estimate_u_using_random_sampling(max_pairs=min(2e6, len(records) * 40.0), seed=rules.seed)
    predictions = linker.inference.predict(threshold_match_probability=rules.review_from)
    clusters_frame = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=rules.threshold)
    clusters = dict(zip(clusters_frame.as_pandas_dataframe()["id"].astype(str),
                        clusters_frame.as_pandas_dataframe()["cluster_id"].astype(str), strict=True))
    pairs = predictions.as_pandas_dataframe()
    review = [pair for pair in _review(pairs, rules) if clusters[pair.left] != clusters[pair.right]]
    return Matches(clusters, review)


def _review(pairs: Any, rules: MatchRules) -> Iterable[ReviewPair]:
    labels = _labels()
    band = pairs[pairs["match_probability"] < rules.threshold].sort_values("match_probability", ascending=False)
    for row in band.to_dict("records"):
        reasons = []
        for field in MODEL:
            gamma = int(row[f"gamma_{field.name}"])
            if gamma < 0:
                continue
            factor = float(row[f"bf_{field.name}"])
            reasons.append(f"{field.name}: {labels[field.name][gamma]} (factor {factor:.3g})")
        yield ReviewPair(str(row["id_l"]), str(row["id_r"]), float(row["match_probability"]),
                         float(row["match_weight"]), tuple(reasons))
