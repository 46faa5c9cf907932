"""Settlement in the gateway: closing a batch (its captures become BATCHED), funding it (one deposit net of
fees; its members become FUNDED), and a processor's later adjustment of a deposit.

Sign conventions, where the reference is silent: refunds and fees are negative inside batch and deposit
summaries, so every summary's ``amount`` is the sum of its sections.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from sandbox.simulators.gp.errors import GpError
from sandbox.simulators.gp.ledger import Ledger
from sandbox.simulators.gp.wire import DEPOSIT_STATUSES, SETTLED, deposit_amount, iso, public, signed


class Settlement(Ledger):
    """Batches and deposits on top of the ledger."""

    def close_batch(self, batch_id: str, *, at: datetime | None = None) -> dict[str, Any]:
        """Close a batch: its CAPTURED members become BATCHED; returns GP's close answer with the totals."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                raise GpError("RESOURCE_NOT_FOUND", f"Batch {batch_id} not found at this location.")
            if batch["status"] != "OPEN":
                raise GpError("INVALID_TRANSACTION_ACTION", f"Batch {batch_id} is already {batch['status']}")
            when = at or self.now()
            rng = random.Random(f"{self.seed}:arn:{batch_id}")
            for transaction_id in batch["transaction_ids"]:
                record = self._transactions[transaction_id]
                if record["status"] == "CAPTURED":
                    record["status"] = "BATCHED"
                    record["_arn"] = "".join(rng.choice("0123456789") for _ in range(23))
                    self._snapshot(record)
            batch["status"] = "CLOSED"
            batch["time_closed"] = iso(when)
            if self._open.get(batch["currency"]) == batch_id:
                del self._open[batch["currency"]]
            return self._batch_answer(batch, when)

    def _members(self, batch: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [self._transactions[t] for t in batch["transaction_ids"] if self._transactions[t]["status"] in SETTLED]

    def _batch_answer(self, batch: Mapping[str, Any], at: datetime) -> dict[str, Any]:
        def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
            sales = [int(r["amount"]) for r in rows if r["type"] == "SALE"]
            refunds = [-int(r["amount"]) for r in rows if r["type"] == "REFUND"]
            return {"sales": {"count": len(sales), "amount": signed(sum(sales))},
                    "refunds": {"count": len(refunds), "amount": signed(sum(refunds))},
                    "count": len(rows), "amount": signed(sum(sales) + sum(refunds))}

        members = self._members(batch)
        overall = totals(members)
        brands = sorted({r["payment_method"]["card"]["brand"] for r in members})
        breakdown = [{"brand": b, **totals([r for r in members if r["payment_method"]["card"]["brand"] == b])}
                     for b in brands]
        return {"id": batch["id"], "batch_id": batch["id"], "status": "CLOSED", "transaction_count": overall["count"],
                "amount": overall["amount"], "currency": batch["currency"],
                "device_reference": batch["device_reference"],
                "host_breakdown": {"count": overall["count"], "amount": overall["amount"]},
                "sales": overall["sales"], "refunds": overall["refunds"], "brand_breakdown": breakdown,
                "action": self._action("CLOSE", at)}

    def adjust_deposit(self, deposit_id: str, delta: int) -> dict[str, Any]:
        """Change a deposit's amount by ``delta`` minor units, as a processor's short or late adjustment does."""
        with self._lock:
            deposit = self._deposits.get(deposit_id)
            if deposit is None:
                raise GpError("RESOURCE_NOT_FOUND", f"Deposit {deposit_id} not found at this location.")
            deposit["amount"] = str(int(deposit["amount"]) + delta)
            return self._deposit_view(deposit)

    def fund(self, batch_id: str, fee_rate: Decimal | str | int = "0", deposit_date: date | str | None = None, *,
             status: str = "FUNDED") -> dict[str, Any]:
        """Fund a closed batch: members become FUNDED and one deposit, net of fees, is created.

        ``fee_rate`` applies to the gross sales (rounded half-even to minor units); the deposit's ``fees``
        and ``refunds`` are negative and its ``amount`` is sales + refunds + fees.
        """
        if isinstance(fee_rate, float):
            raise TypeError("give fee_rate as a Decimal or a string; floats cannot hold rates exactly")
        try:
            rate = Decimal(str(fee_rate))
        except InvalidOperation:
            raise GpError("INVALID_REQUEST_DATA", "fee_rate contains unexpected data") from None
        if not rate.is_finite() or not Decimal(0) <= rate < Decimal(1):
            raise GpError("INVALID_REQUEST_DATA", "fee_rate contains unexpected data")
        if status not in DEPOSIT_STATUSES:
            raise GpError("INVALID_REQUEST_DATA", "status contains unexpected data")
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                raise GpError("RESOURCE_NOT_FOUND", f"Batch {batch_id} not found at this location.")
            if batch["status"] != "CLOSED":
                raise GpError("INVALID_TRANSACTION_ACTION", f"Batch {batch_id} is still open: close it first")
            if batch["deposit_id"]:
                raise GpError("INVALID_TRANSACTION_ACTION", f"Batch {batch_id} was funded by {batch['deposit_id']}")
            day = (date.fromisoformat(deposit_date) if isinstance(deposit_date, str)
                   else deposit_date or self.now().date())
            members = self._members(batch)
            sales = [int(r["amount"]) for r in members if r["type"] == "SALE"]
            refunds = [-int(r["amount"]) for r in members if r["type"] == "REFUND"]
            fee = -int((Decimal(sum(sales)) * rate).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
            net = sum(sales) + sum(refunds) + fee
            deposit_id = "DEP_" + "".join(str(self._rng.randrange(10)) for _ in range(10))
            while deposit_id in self._deposits:
                deposit_id = "DEP_" + "".join(str(self._rng.randrange(10)) for _ in range(10))
            empty = {"count": 0, "amount": ""}
            deposit = {
                "id": deposit_id, "time_created": day.isoformat(), "status": status,
                "funding_type": "CREDIT" if net >= 0 else "DEBIT", "amount": str(net), "currency": batch["currency"],
                "aggregation_model": "H-By Date",
                "bank_transfer": {"masked_account_number_last4": "XXXXXX9999", "bank": {"code": "XXXXX0001"}},
                "system": self._system(),
                "sales": {"count": len(sales), "amount": deposit_amount(sum(sales))},
                "refunds": {"count": len(refunds), "amount": deposit_amount(sum(refunds))},
                "discounts": dict(empty), "tax": dict(empty),
                "disputes": {"chargebacks": dict(empty), "reversals": dict(empty)},
                "fees": {"amount": deposit_amount(fee)},
                "_batch_ids": [batch_id], "_fee_rate": str(rate),
            }
            self._deposits[deposit_id] = deposit
            batch["deposit_id"] = deposit_id
            for record in members:
                record["status"] = "FUNDED"
                self._snapshot(record)
            return self._deposit_view(deposit)

    def _deposit_view(self, deposit: Mapping[str, Any]) -> dict[str, Any]:
        view = public(deposit)
        view["action"] = self._action("DEPOSIT_SINGLE", self.now())
        return view

    def _system(self) -> dict[str, str]:
        return {"mid": "101023947262", "hierarchy": "055-70-024-011-019", "name": self.merchant_name.upper(),
                "dba": self.merchant_name}
