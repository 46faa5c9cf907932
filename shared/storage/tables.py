"""The names of every table hl365 keeps, in one place (Azure Table names are alphanumeric)."""

from __future__ import annotations

IDEMPOTENCY_KEYS = "IdempotencyKeys"
"""Claims and completions of every idempotency key (intake, posting, charging)."""
AUDIT_LOG = "AuditLog"
"""The hash-chained audit trail."""
CROSS_REFERENCE = "CrossReference"
"""hl365's own data about records of other systems: payment tokens, order results."""
CHECKPOINTS = "Checkpoints"
"""Watermarks of polls and the state of webhook subscriptions."""
DEAD_LETTERS = "DeadLetters"
"""Messages parked with their reason, until a person replays them."""
DISCREPANCIES = "Discrepancies"
"""What the latest reconciliation of each day found still wrong."""
POSTINGS = "Postings"
"""The table ledger's payments and journals, when no Dynamics target is set."""

CUSTOMER_RECORDS = "CustomerRecords"
"""Every customer record of every source, by source and its id there, with the profile it belongs to."""
CUSTOMER_PROFILES = "CustomerProfiles"
"""One row per real customer: the surviving fields and where each came from."""
CUSTOMER_MERGES = "CustomerMerges"
"""What each merge moved, so a person can undo it."""
CUSTOMER_APART = "CustomerApart"
"""Profiles a person said are different customers."""
CUSTOMER_REVIEW = "CustomerReview"
"""Pairs of records a person should decide."""
ANOMALY_FLAGS = "AnomalyFlags"
"""Payments the anomaly watch flagged, one row per transaction and pattern, so each is alerted once."""

ALL = (IDEMPOTENCY_KEYS, AUDIT_LOG, CROSS_REFERENCE, CHECKPOINTS, DEAD_LETTERS, DISCREPANCIES, POSTINGS,
       CUSTOMER_RECORDS, CUSTOMER_PROFILES, CUSTOMER_MERGES, CUSTOMER_APART, CUSTOMER_REVIEW, ANOMALY_FLAGS)
