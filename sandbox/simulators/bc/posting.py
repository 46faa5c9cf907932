"""What posting writes in Business Central: ``Microsoft.NAV.post`` (Gen. Jnl.-Post on every line of a batch),
Sales-Post of an invoice, the G/L entries and the customer ledger, and the account and customer look-ups the
journal pages and posting share.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sandbox.simulators.bc.errors import dialog
from sandbox.simulators.bc.schema import SETS
from sandbox.simulators.bc.store import EMPTY_GUID, Company, Record, Store

ACCOUNT_TABLES = {"G/L Account": ("accounts", "G/L Account"), "Customer": ("customers", "Customer"),
                  "Bank Account": ("bankAccounts", "Bank Account")}


@dataclass
class _Posting:
    """One journal line as the posting routine sees it, whichever API page created it."""

    id: str
    line_number: int
    account_type: str
    account_number: str
    posting_date: str
    document_number: str
    document_type: str
    amount: Decimal
    description: str
    balance_type: str
    balance_number: str
    applies_to_invoice: str


class Ledger(Store):
    """The store with Business Central's posting routines; ``Books`` adds the API pages' rules on top."""

    def children(self, company: Company, set_name: str, fk: str, parent_id: str) -> list[Record]:
        rows = [r for r in company.table(set_name).values() if r.get(fk) == parent_id]
        order = SETS[set_name].order[-1]
        return sorted(rows, key=lambda r: r.get(order) or 0)

    def account(self, company: Company, kind: str, account_id: str | None, number: str | None,
                field: str = "account") -> Record | None:
        """The account a line names by id, number or both (they must agree), as the journal line page checks."""
        if kind not in ACCOUNT_TABLES:
            raise dialog(f"The simulator does not model journal lines of account type '{kind}'.")
        table = company.table(ACCOUNT_TABLES[kind][0])
        by_id = table.get(account_id) if account_id and account_id != EMPTY_GUID else None
        if account_id and account_id != EMPTY_GUID and by_id is None:
            raise dialog(f'The "{field}Id" does not match to an Account.')
        if number:
            by_number = next((r for r in table.values() if r["number"] == number), None)
            if by_number is None:
                raise dialog(f'The "{field}Number" does not match to an Account.')
            if by_id is not None and by_id is not by_number:
                raise dialog("The account values do not match to a specific Account.")
            return by_number
        return by_id

    def customer(self, company: Company, customer_id: str | None, number: str | None) -> Record | None:
        table = company.table("customers")
        by_id = table.get(customer_id) if customer_id and customer_id != EMPTY_GUID else None
        if customer_id and customer_id != EMPTY_GUID and by_id is None:
            raise dialog('The "customerId" does not match to a Customer.')
        if number:
            by_number = next((c for c in table.values() if c["number"] == number), None)
            if by_number is None:
                raise dialog('The "customerNumber" does not match to a Customer.')
            if by_id is not None and by_id is not by_number:
                raise dialog("The customer values do not match to a specific Customer.")
            return by_number
        return by_id

    def journal_by_id(self, company: Company, journal_id: str, *, any_template: bool) -> tuple[str, Record] | None:
        sets = ("journals", "customerPaymentJournals") if any_template else ("journals",)
        for set_name in sets:
            journal = company.table(set_name).get(journal_id)
            if journal is not None:
                return set_name, journal
        return None

    def post_journal(self, company: Company, set_name: str, journal: Record) -> None:
        """Gen. Jnl.-Post on every line of the batch: check everything, then write G/L entries and empty it."""
        template, code = journal["_template"], journal["code"]
        line_set = "journalLines" if set_name == "journals" else "customerPayments"
        rows = self.children(company, line_set, "journalId", journal["id"])
        lines = [self._posting_line(company, line_set, row) for row in rows]
        lines = [p for p in lines if p.account_number or p.amount]
        if not lines:
            raise dialog("There is nothing to post.")
        for line in lines:
            where = f"Gen. Journal Line: Journal Template Name={template}, Journal Batch Name={code}, " \
                    f"Line No.={line.line_number}"
            for caption, value in (("Posting Date", line.posting_date), ("Document No.", line.document_number),
                                   ("Account No.", line.account_number)):
                if not value or value == "0001-01-01":
                    raise dialog(f"{caption} must have a value in {where}. It cannot be zero or empty.")
            if line.document_type == "Payment" and line.account_type == "Customer" and line.amount > 0:
                raise dialog(f"Amount must be negative in {where}.")
            for kind, number in ((line.account_type, line.account_number), (line.balance_type, line.balance_number)):
                if kind == "G/L Account" and number:
                    self._check_gl_account(company, number)
        self._check_balance(lines)
        entries: list[int] = []
        for line in lines:
            entries += self._post_line(company, line)
        for row in rows:
            self.remove(company, line_set, row["id"])
        self.append(self.posted, {"journalId": journal["id"], "journalCode": code, "template": template,
                                  "companyId": company.id, "postedAt": self.now(),
                                  "lines": [self.jsonable(self.render(SETS[line_set], r)) for r in rows],
                                  "entryNumbers": entries})

    def _posting_line(self, company: Company, line_set: str, row: Record) -> _Posting:
        if line_set == "customerPayments":
            journal = company.table("customerPaymentJournals")[row["journalId"]]
            return _Posting(row["id"], row["lineNumber"], "Customer", row["customerNumber"], row["postingDate"],
                            row["documentNumber"], "Payment", row["amount"], row["description"],
                            journal.get("_balanceType") or "G/L Account", journal.get("balancingAccountNumber", ""),
                            row["appliesToInvoiceId"])
        return _Posting(row["id"], row["lineNumber"], row["accountType"], row["accountNumber"], row["postingDate"],
                        row["documentNumber"], " ", row["amount"], row["description"],
                        row["balanceAccountType"] or "G/L Account", row["balancingAccountNumber"], EMPTY_GUID)

    def _check_gl_account(self, company: Company, number: str) -> None:
        account = self.find(company, "accounts", number=number)
        if account is None:
            raise dialog(f"The G/L Account does not exist. Identification fields and values: No.='{number}'")
        if account["accountType"] != "Posting":
            raise dialog(f"Account Type must be equal to 'Posting'  in G/L Account: No.={number}. "
                         f"Current value is '{account['accountType']}'.")
        if account["blocked"]:
            raise dialog(f"Blocked must be equal to 'No'  in G/L Account: No.={number}. Current value is 'Yes'.")
        if not account["directPosting"]:
            raise dialog(f"Direct Posting must have a value in G/L Account: No.={number}. It cannot be zero or empty.")

    @staticmethod
    def _check_balance(lines: Iterable[_Posting]) -> None:
        """Each document (posting date + document no., in line order) must balance, as Gen. Jnl.-Post Batch checks."""
        previous: tuple[str, str] | None = None
        balance = Decimal(0)
        for line in lines:
            key = (line.posting_date, line.document_number)
            if previous is not None and key != previous and balance:
                raise dialog(f"Document No. {previous[1]} is out of balance by {balance:,.2f}. Please check that "
                             "Posting Date, Document Type, Document No. and Amount are correct for each line.")
            if key != previous:
                balance = Decimal(0)
            previous = key
            if not line.balance_number:
                balance += line.amount
        if previous is not None and balance:
            raise dialog(f"Document No. {previous[1]} is out of balance by {balance:,.2f}. Please check that "
                         "Posting Date, Document Type, Document No. and Amount are correct for each line.")

    def _gl_account_for(self, company: Company, kind: str, number: str) -> Record:
        if kind == "G/L Account":
            account = self.find(company, "accounts", number=number)
        else:
            table, _ = ACCOUNT_TABLES[kind]
            party = self.find(company, table, number=number)
            if party is None:
                raise dialog(f"The {kind} does not exist. Identification fields and values: No.='{number}'")
            posting = party.get("_receivables") if kind == "Customer" else party.get("_glAccount")
            account = self.find(company, "accounts", number=posting)
        if account is None:
            raise dialog(f"The G/L Account for {kind} {number} does not exist.")
        return account

    def _post_line(self, company: Company, line: _Posting) -> list[int]:
        sides = [(line.account_type, line.account_number, line.amount)]
        if line.balance_number:
            sides.append((line.balance_type, line.balance_number, -line.amount))
        entries = []
        for kind, number, amount in sides:
            account = self._gl_account_for(company, kind, number)
            entries.append(self.gl_entry(company, line.posting_date, line.document_number, line.document_type,
                                         account, line.description, amount))
            if kind == "Customer":
                self._customer_ledger(company, number, amount, line.applies_to_invoice if amount < 0 else EMPTY_GUID)
        return entries

    def gl_entry(self, company: Company, posting_date: str, document: str, document_type: str, account: Record,
                 description: str, amount: Decimal) -> int:
        number = self.count(company, "glEntries")
        record = {**self.defaults(SETS["generalLedgerEntries"]), "id": self.new_id(), "entryNumber": number,
                  "postingDate": posting_date, "documentNumber": document, "documentType": document_type,
                  "accountId": account["id"], "accountNumber": account["number"], "description": description,
                  "debitAmount": amount if amount > 0 else Decimal(0),
                  "creditAmount": -amount if amount < 0 else Decimal(0)}
        self.insert(company, "generalLedgerEntries", record)
        self.modify(company, "accounts", account, {"netChange": account["netChange"] + amount}, touch=False)
        return number

    def _customer_ledger(self, company: Company, number: str, amount: Decimal, invoice_id: str) -> None:
        customer = self.find(company, "customers", number=number)
        if customer is None:
            return
        self.modify(company, "customers", customer, {"balanceDue": customer["balanceDue"] + amount}, touch=False)
        invoice = company.table("salesInvoices").get(invoice_id)
        if invoice is not None and amount < 0:
            remaining = max(Decimal(0), invoice["remainingAmount"] + amount)
            changes: Record = {"remainingAmount": remaining}
            if remaining == 0:
                changes["status"] = "Paid"
            self.modify(company, "salesInvoices", invoice, changes)

    def post_invoice(self, company: Company, invoice: Record) -> None:
        """Sales-Post for an invoice: Draft → Open under a posted number, receivables and revenue in the G/L."""
        if invoice["status"] != "Draft":
            raise dialog(f"The invoice {invoice['number']} has already been posted.")
        lines = [line for line in self.children(company, "salesInvoiceLines", "documentId", invoice["id"])
                 if line["lineType"] != "Comment" and line["quantity"]]
        if not lines:
            raise dialog("There is nothing to post.")
        customer = company.table("customers")[invoice["customerId"]]
        if customer["blocked"] in ("Invoice", "All"):
            raise dialog(f"You cannot post this type of document when Customer {customer['number']} is blocked "
                         f"with type {customer['blocked']}")
        number = str(103000 + self.count(company, "postedInvoices"))
        total = invoice["totalAmountIncludingTax"]
        self.modify(company, "salesInvoices", invoice,
                    {"number": number, "status": "Open" if total else "Paid", "remainingAmount": total})
        receivables = self._gl_account_for(company, "Customer", customer["number"])
        self.gl_entry(company, invoice["postingDate"], number, "Invoice", receivables, f"Invoice {number}", total)
        revenue: dict[str, Decimal] = {}
        for line in lines:
            if line["lineType"] == "Account":
                account_number = line["lineObjectNumber"]
            else:
                item = company.table("items").get(line["itemId"], {})
                account_number = item.get("_sales", "40100")
                if item and item["type"] == "Inventory":
                    self.modify(company, "items", item, {"inventory": item["inventory"] - line["quantity"]},
                                touch=False)
            revenue[account_number] = revenue.get(account_number, Decimal(0)) + line["amountExcludingTax"]
        for account_number, amount in revenue.items():
            account = self._gl_account_for(company, "G/L Account", account_number)
            self.gl_entry(company, invoice["postingDate"], number, "Invoice", account, f"Invoice {number}", -amount)
        if invoice["totalTaxAmount"]:
            tax_account = self._gl_account_for(company, "G/L Account", "22500")
            self.gl_entry(company, invoice["postingDate"], number, "Invoice", tax_account, f"Invoice {number}",
                          -invoice["totalTaxAmount"])
        self.modify(company, "customers", customer, {"balanceDue": customer["balanceDue"] + total}, touch=False)
