"""Business Central's business rules as the API pages apply them: master data, journals and their lines,
customer payments applied to invoices, sales orders and invoices; posting them is ``posting.py``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox.simulators.bc.errors import BcError, dialog, not_found
from sandbox.simulators.bc.posting import Ledger
from sandbox.simulators.bc.schema import SETS, EntitySet
from sandbox.simulators.bc.store import EMPTY_GUID, Company, Record, money

GENERAL = "GENERAL"
CASH_RECEIPTS = "CASHRCPT"
FILTERS_NOT_SPECIFIED = "You must specify a journal batch ID or a journal ID to get a journal line."
POSTED_INVOICE = ("Open", "Paid", "Corrective", "Canceled")


class Books(Ledger):
    """The per-entity-set rules of the API pages on top of the ledger. Every method runs inside ``atomic()`` of its
    caller."""

    # -- dispatch ----------------------------------------------------------------------------------------------

    def create(self, company: Company, entity_set: EntitySet, body: Any, parent: Record | None = None) -> Record:
        if "POST" not in entity_set.methods:
            raise BcError(405, "BadRequest_MethodNotAllowed",
                          f"'POST' requests for '{entity_set.name}' of EdmType 'Entity' are not allowed within "
                          "Dynamics 365 Business Central OData web services.")
        values, navs = self.coerce(entity_set, body)
        handler = getattr(self, f"_create_{entity_set.name}")
        record: Record = handler(company, values, parent)
        for nav_name, items in navs.items():
            nav = entity_set.nav(nav_name)
            if nav is None or not nav.collection or not isinstance(items, list):
                raise BcError(400, "BadRequest", f"'{nav_name}' cannot be deep-inserted on {entity_set.name}.")
            for item in items:
                self.create(company, SETS[nav.target], item, record)
        return record

    def update(self, company: Company, entity_set: EntitySet, record: Record, body: Any) -> Record:
        if "PATCH" not in entity_set.methods:
            raise BcError(405, "BadRequest_MethodNotAllowed",
                          f"'PATCH' requests for '{entity_set.name}' are not allowed.")
        values, navs = self.coerce(entity_set, body)
        if navs:
            raise BcError(400, "BadRequest", "Navigation properties cannot be changed with PATCH.")
        handler = getattr(self, f"_update_{entity_set.name}", None)
        if handler is not None:
            values = handler(company, record, values)
        for prop in ("number", "code"):
            if prop in values and values[prop] != record.get(prop):
                self._unique(company, entity_set, prop, values[prop])
        updated = self.modify(company, entity_set.name, record, values)
        self._touch_parent(company, entity_set, updated)
        return updated

    def delete(self, company: Company, entity_set: EntitySet, record: Record) -> None:
        if "DELETE" not in entity_set.methods:
            raise BcError(405, "BadRequest_MethodNotAllowed",
                          f"'DELETE' requests for '{entity_set.name}' are not allowed.")
        check = getattr(self, f"_check_delete_{entity_set.name}", None)
        if check is not None:
            check(company, record)
        for nav in entity_set.navs:
            if nav.collection and nav.fk:
                for child in list(self.children(company, nav.target, nav.fk, record["id"])):
                    self.remove(company, nav.target, child["id"])
        self.remove(company, entity_set.name, record["id"])
        self._touch_parent(company, entity_set, record)

    def _touch_parent(self, company: Company, entity_set: EntitySet, record: Record) -> None:
        """A change to a document line recalculates, and so changes, its header (and notifies for it)."""
        if entity_set.name in ("salesOrderLines", "salesInvoiceLines") and entity_set.parent:
            header = company.table(entity_set.parent).get(record.get("documentId", ""))
            if header is not None:
                self._recalculate(company, entity_set.parent, header)

    def _unique(self, company: Company, entity_set: EntitySet, prop: str, value: str, caption: str = "") -> None:
        if self.find(company, entity_set.name, **{prop: value}) is not None:
            table = caption or entity_set.type_name
            raise BcError(400, "Internal_EntityWithSameKeyExists",
                          f"The record in table {table} already exists. Identification fields and values: "
                          f"{'No.' if prop == 'number' else 'Code'}='{value}'")

    # -- master data -------------------------------------------------------------------------------------------

    def _simple(self, company: Company, set_name: str, values: Record, defaults: Record, key: str,
                series: str | None, caption: str) -> Record:
        entity_set = SETS[set_name]
        if not values.get(key):
            if series is None:
                raise dialog(f"{caption} must have a value in {caption}: {key}=. It cannot be zero or empty.")
            values[key] = f"{series}{self.count(company, set_name):05d}"
        self._unique(company, entity_set, key, values[key], caption)
        record = {**self.defaults(entity_set), **defaults, **values, "id": self.new_id()}
        return self.insert(company, set_name, record)

    def _create_customers(self, company: Company, values: Record, parent: Record | None) -> Record:  # noqa: ARG002
        return self._simple(company, "customers", values, {"type": "Company", "blocked": " ",
                                                         "_receivables": "13100"}, "number", "C", "Customer")

    def _create_items(self, company: Company, values: Record, parent: Record | None) -> Record:  # noqa: ARG002
        return self._simple(company, "items", values, {"type": "Inventory", "baseUnitOfMeasureCode": "PCS",
                                                     "_sales": "40100"}, "number", "I", "Item")

    def _create_paymentMethods(self, company: Company, values: Record, parent: Record | None) -> Record:  # noqa: ARG002
        return self._simple(company, "paymentMethods", values, {}, "code", None, "Payment Method")

    def _check_delete_customers(self, company: Company, record: Record) -> None:
        if record.get("balanceDue") or self.find(company, "salesInvoices", customerId=record["id"]):
            raise dialog(f"You cannot delete Customer {record['number']} because it has ledger entries.")

    def _check_delete_salesInvoices(self, company: Company, record: Record) -> None:  # noqa: ARG002
        if record.get("status") != "Draft":
            raise dialog(f"You cannot delete the posted invoice {record['number']}.")

    def _check_delete_generalLedgerEntries(self, company: Company, record: Record) -> None:  # noqa: ARG002
        raise BcError(405, "BadRequest_MethodNotAllowed", "G/L entries cannot be deleted.")

    # -- journals ----------------------------------------------------------------------------------------------

    def _create_journal(self, company: Company, set_name: str, template: str, values: Record) -> Record:
        code = values.get("code")
        if not code:
            raise dialog(f"Name must have a value in Gen. Journal Batch: Journal Template Name={template}, Name=. "
                         "It cannot be zero or empty.")
        if self.find(company, set_name, code=code) is not None:
            raise BcError(400, "Internal_EntityWithSameKeyExists",
                          "The record in table Gen. Journal Batch already exists. Identification fields and values: "
                          f"Journal Template Name='{template}',Name='{code}'")
        record = {**self.defaults(SETS[set_name]), **values, "id": self.new_id(), "_template": template}
        if set_name == "journals":
            record["templateDisplayName"] = template
        self._balancing(company, record, values.get("balancingAccountId"))
        return self.insert(company, set_name, record)

    def _balancing(self, company: Company, record: Record, account_id: str | None) -> None:
        if not account_id or account_id == EMPTY_GUID:
            record.update(balancingAccountId=EMPTY_GUID, balancingAccountNumber="", _balanceType="")
            return
        for set_name, kind in (("accounts", "G/L Account"), ("bankAccounts", "Bank Account")):
            account = company.table(set_name).get(account_id)
            if account is not None:
                record.update(balancingAccountId=account_id, balancingAccountNumber=account["number"],
                              _balanceType=kind)
                return
        raise dialog('The "balancingAccountId" does not match to an Account.')

    def _create_journals(self, company: Company, values: Record, parent: Record | None) -> Record:  # noqa: ARG002
        return self._create_journal(company, "journals", GENERAL, values)

    def _create_customerPaymentJournals(self, company: Company, values: Record, parent: Record | None) -> Record:  # noqa: ARG002
        return self._create_journal(company, "customerPaymentJournals", CASH_RECEIPTS, values)

    def _update_journals(self, company: Company, record: Record, values: Record) -> Record:  # noqa: ARG002
        if "balancingAccountId" in values:
            probe: Record = {}
            self._balancing(company, probe, values["balancingAccountId"])
            values = {**values, **probe}
        return values

    _update_customerPaymentJournals = _update_journals

    def _line_journal(self, company: Company, set_name: str, values: Record, parent: Record | None) -> Record:
        journal_set = SETS[set_name].parent or ""
        journal_id = values.get("journalId")
        if parent is not None:
            if journal_id and journal_id != parent["id"]:
                raise dialog("The Journal Id cannot be changed.")
            return parent
        if not journal_id or journal_id == EMPTY_GUID:
            raise dialog(FILTERS_NOT_SPECIFIED)
        journal = company.table(journal_set).get(journal_id)
        if journal is None:
            raise dialog(f"The General Journal Batch with ID {journal_id} cannot be found.")
        return journal

    def _next_line(self, company: Company, set_name: str, journal: Record, requested: int | None) -> int:
        existing = {r["lineNumber"] for r in self.children(company, set_name, "journalId", journal["id"])}
        number = requested or (max(existing) + 10000 if existing else 10000)
        if number in existing:
            raise BcError(400, "Internal_EntityWithSameKeyExists",
                          "The record in table Gen. Journal Line already exists. Identification fields and values: "
                          f"Journal Template Name='{journal['_template']}',Journal Batch Name='{journal['code']}',"
                          f"Line No.='{number}'")
        return number

    def _document_number(self, company: Company, set_name: str, journal: Record) -> str:
        lines = self.children(company, set_name, "journalId", journal["id"])
        if lines and lines[-1].get("documentNumber"):
            return str(lines[-1]["documentNumber"])
        return f"G{self.count(company, 'journalDocuments'):05d}"

    def _create_journalLines(self, company: Company, values: Record, parent: Record | None) -> Record:
        journal = self._line_journal(company, "journalLines", values, parent)
        record = {**self.defaults(SETS["journalLines"]), "accountType": "G/L Account", "postingDate": self.today()}
        record.update(values)
        record.update(id=self.new_id(), journalId=journal["id"], journalDisplayName=journal["code"],
                      lineNumber=self._next_line(company, "journalLines", journal, values.get("lineNumber")))
        if not record["documentNumber"]:
            record["documentNumber"] = self._document_number(company, "journalLines", journal)
        self._resolve_line_accounts(company, record, values, journal)
        return self.insert(company, "journalLines", record)

    def _resolve_line_accounts(self, company: Company, record: Record, values: Record, journal: Record) -> None:
        account = self.account(company, record["accountType"], record.get("accountId"), record.get("accountNumber"))
        if account is not None:
            record.update(accountId=account["id"], accountNumber=account["number"])
            if not values.get("description") and not record.get("description"):
                record["description"] = account.get("displayName", "")
        else:
            record.update(accountId=EMPTY_GUID, accountNumber="")
        balance_given = any(values.get(k) for k in ("balanceAccountType", "balancingAccountId",
                                                     "balancingAccountNumber"))
        if not balance_given and journal.get("balancingAccountNumber") and not record.get("balancingAccountNumber"):
            record.update(balanceAccountType=journal["_balanceType"], balancingAccountId=journal["balancingAccountId"],
                          balancingAccountNumber=journal["balancingAccountNumber"])
            return
        kind = record.get("balanceAccountType") or "G/L Account"
        balance = self.account(company, kind, record.get("balancingAccountId"), record.get("balancingAccountNumber"),
                               "balancingAccount")
        if balance is not None:
            record.update(balanceAccountType=kind, balancingAccountId=balance["id"],
                          balancingAccountNumber=balance["number"])
        else:
            record.update(balanceAccountType=kind, balancingAccountId=EMPTY_GUID, balancingAccountNumber="")

    def _update_journalLines(self, company: Company, record: Record, values: Record) -> Record:
        if "journalId" in values and values["journalId"] != record["journalId"]:
            raise dialog("The Journal Id cannot be changed.")
        journal = company.table("journals")[record["journalId"]]
        if "lineNumber" in values and values["lineNumber"] != record["lineNumber"]:
            self._next_line(company, "journalLines", journal, values["lineNumber"])
        probe = {**record, **values}
        if "accountType" in values and "accountId" not in values and "accountNumber" not in values:
            probe.update(accountId=EMPTY_GUID, accountNumber="")
        if "accountNumber" in values and "accountId" not in values:
            probe["accountId"] = EMPTY_GUID
        if "balancingAccountNumber" in values and "balancingAccountId" not in values:
            probe["balancingAccountId"] = EMPTY_GUID
        self._resolve_line_accounts(company, probe, {**values, "description": probe.get("description")}, journal)
        return {k: v for k, v in probe.items() if not k.startswith("_") and v != record.get(k)}

    # -- customer payments -------------------------------------------------------------------------------------

    def _applies_to(self, company: Company, invoice_id: str | None, number: str | None) -> Record | None:
        posted = [i for i in company.table("salesInvoices").values() if i["status"] in POSTED_INVOICE]
        by_id = next((i for i in posted if i["id"] == invoice_id), None) if invoice_id and invoice_id != EMPTY_GUID \
            else None
        if invoice_id and invoice_id != EMPTY_GUID and by_id is None:
            raise dialog('The "appliesToInvoiceId" does not match to a Sales Invoice.')
        if number:
            by_number = next((i for i in posted if i["number"] == number), None)
            if by_number is None:
                raise dialog('The "appliesToInvoiceNumber" does not match to a Sales Invoice.')
            if by_id is not None and by_id is not by_number:
                raise dialog("The AppliesToInvoice values do not match to the same Invoice.")
            return by_number
        return by_id

    def _payment_parties(self, company: Company, record: Record) -> None:
        customer = self.customer(company, record.get("customerId"), record.get("customerNumber"))
        invoice = self._applies_to(company, record.get("appliesToInvoiceId"), record.get("appliesToInvoiceNumber"))
        if invoice is not None:
            if customer is None:
                customer = company.table("customers")[invoice["customerId"]]
            elif invoice["customerId"] != customer["id"]:
                raise dialog("The customer values do not match to a specific Customer.")
            record.update(appliesToInvoiceId=invoice["id"], appliesToInvoiceNumber=invoice["number"])
        else:
            record.update(appliesToInvoiceId=EMPTY_GUID, appliesToInvoiceNumber="")
        if customer is not None:
            record.update(customerId=customer["id"], customerNumber=customer["number"])
        else:
            record.update(customerId=EMPTY_GUID, customerNumber="")

    def _create_customerPayments(self, company: Company, values: Record, parent: Record | None) -> Record:
        journal = self._line_journal(company, "customerPayments", values, parent)
        record = {**self.defaults(SETS["customerPayments"]), "postingDate": self.today()}
        record.update(values)
        record.update(id=self.new_id(), journalId=journal["id"], journalDisplayName=journal["code"],
                      lineNumber=self._next_line(company, "customerPayments", journal, values.get("lineNumber")))
        if not record["documentNumber"]:
            record["documentNumber"] = self._document_number(company, "customerPayments", journal)
        self._payment_parties(company, record)
        return self.insert(company, "customerPayments", record)

    def _update_customerPayments(self, company: Company, record: Record, values: Record) -> Record:
        if "journalId" in values and values["journalId"] != record["journalId"]:
            raise dialog("The Journal Id cannot be changed.")
        probe = {**record, **values}
        if "customerNumber" in values and "customerId" not in values:
            probe["customerId"] = EMPTY_GUID
        if "appliesToInvoiceNumber" in values and "appliesToInvoiceId" not in values:
            probe["appliesToInvoiceId"] = EMPTY_GUID
        self._payment_parties(company, probe)
        return {k: v for k, v in probe.items() if not k.startswith("_") and v != record.get(k)}

    # -- sales documents ---------------------------------------------------------------------------------------

    def _create_sales_header(self, company: Company, set_name: str, values: Record, series: str,
                             start: int) -> Record:
        customer = self.customer(company, values.get("customerId"), values.get("customerNumber"))
        if customer is None:
            raise dialog('The "customerNumber" does not match to a Customer.')
        if customer["blocked"] == "All":
            raise dialog(f"You cannot create this type of document when Customer {customer['number']} is blocked "
                         "with type All")
        record = {**self.defaults(SETS[set_name]), **values, "id": self.new_id(), "customerId": customer["id"],
                  "customerNumber": customer["number"], "customerName": customer["displayName"], "status": "Draft",
                  "postingDate": values.get("postingDate") or self.today()}
        if not record.get("number"):
            record["number"] = f"{series}{start + self.count(company, set_name)}"
        self._unique(company, SETS[set_name], "number", record["number"], "Sales Header")
        if set_name == "salesOrders":
            record["orderDate"] = values.get("orderDate") or self.today()
        else:
            record["invoiceDate"] = values.get("invoiceDate") or self.today()
            record["dueDate"] = values.get("dueDate") or record["invoiceDate"]
        return self.insert(company, set_name, record)

    def _create_salesOrders(self, company: Company, values: Record, parent: Record | None) -> Record:  # noqa: ARG002
        return self._create_sales_header(company, "salesOrders", values, "S-ORD", 101000)

    def _create_salesInvoices(self, company: Company, values: Record, parent: Record | None) -> Record:  # noqa: ARG002
        return self._create_sales_header(company, "salesInvoices", values, "S-INV", 102000)

    def _sales_header_update(self, company: Company, values: Record) -> Record:
        if "customerId" in values or "customerNumber" in values:
            customer = self.customer(company, values.get("customerId"), values.get("customerNumber"))
            if customer is not None:
                values = {**values, "customerId": customer["id"], "customerNumber": customer["number"],
                          "customerName": customer["displayName"]}
        return values

    def _update_salesOrders(self, company: Company, record: Record, values: Record) -> Record:  # noqa: ARG002
        return self._sales_header_update(company, values)

    def _update_salesInvoices(self, company: Company, record: Record, values: Record) -> Record:
        if record["status"] != "Draft":
            raise dialog(f"You cannot change the posted invoice {record['number']}.")
        return self._sales_header_update(company, values)

    def _sales_line(self, company: Company, set_name: str, values: Record, parent: Record | None,
                    existing: Record | None = None) -> Record:
        header_set = SETS[set_name].parent or ""
        header = parent
        if header is None:
            document_id = values.get("documentId") or (existing or {}).get("documentId")
            header = company.table(header_set).get(document_id or "")
            if header is None:
                raise dialog("You must specify a document id to get the lines.")
        if header_set == "salesInvoices" and header["status"] != "Draft":
            raise dialog(f"You cannot change the posted invoice {header['number']}.")
        record = {**(existing or {**self.defaults(SETS[set_name]), "id": self.new_id(), "quantity": Decimal(0)}),
                  **values, "documentId": header["id"]}
        if existing is None:
            lines = self.children(company, set_name, "documentId", header["id"])
            record["sequence"] = values.get("sequence") or ((lines[-1]["sequence"] + 10000) if lines else 10000)
        item = None
        if values.get("itemId") or (values.get("lineObjectNumber") and record.get("lineType") in ("Item", "", None)):
            item_id, number = values.get("itemId"), values.get("lineObjectNumber")
            item = company.table("items").get(item_id) if item_id else self.find(company, "items", number=number)
            if item is None:
                raise dialog('The "itemId" does not match to an Item.' if item_id
                             else 'The "lineObjectNumber" does not match to an Item.')
            record.update(lineType="Item", itemId=item["id"], lineObjectNumber=item["number"])
            if "description" not in values and existing is None:
                record["description"] = item["displayName"]
            if "unitPrice" not in values and existing is None:
                record["unitPrice"] = item["unitPrice"]
            if "unitOfMeasureCode" not in values and existing is None:
                record["unitOfMeasureCode"] = item["baseUnitOfMeasureCode"]
        elif record.get("lineType") == "Account":
            account = self.account(company, "G/L Account", values.get("accountId"), values.get("lineObjectNumber"))
            if account is not None:
                record.update(accountId=account["id"], lineObjectNumber=account["number"])
        elif not record.get("lineType"):
            record["lineType"] = "Comment"
        base = money(record["quantity"] * record["unitPrice"])
        discount = money(base * record["discountPercent"] / 100) if record["discountPercent"] else \
            record["discountAmount"]
        excluding = base - discount
        tax = money(excluding * record["taxPercent"] / 100)
        record.update(discountAmount=discount, amountExcludingTax=excluding, netAmount=excluding,
                      totalTaxAmount=tax, amountIncludingTax=excluding + tax)
        return record

    def _create_salesOrderLines(self, company: Company, values: Record, parent: Record | None) -> Record:
        record = self.insert(company, "salesOrderLines", self._sales_line(company, "salesOrderLines", values, parent))
        self._touch_parent(company, SETS["salesOrderLines"], record)
        return record

    def _create_salesInvoiceLines(self, company: Company, values: Record, parent: Record | None) -> Record:
        record = self.insert(company, "salesInvoiceLines",
                             self._sales_line(company, "salesInvoiceLines", values, parent))
        self._touch_parent(company, SETS["salesInvoiceLines"], record)
        return record

    def _update_salesOrderLines(self, company: Company, record: Record, values: Record) -> Record:
        full = self._sales_line(company, "salesOrderLines", values, None, record)
        return {k: v for k, v in full.items() if v != record.get(k)}

    def _update_salesInvoiceLines(self, company: Company, record: Record, values: Record) -> Record:
        full = self._sales_line(company, "salesInvoiceLines", values, None, record)
        return {k: v for k, v in full.items() if v != record.get(k)}

    def _check_delete_salesInvoiceLines(self, company: Company, record: Record) -> None:
        header = company.table("salesInvoices").get(record["documentId"])
        if header is not None and header["status"] != "Draft":
            raise dialog(f"You cannot change the posted invoice {header['number']}.")

    def _recalculate(self, company: Company, set_name: str, header: Record) -> None:
        line_set = "salesOrderLines" if set_name == "salesOrders" else "salesInvoiceLines"
        lines = self.children(company, line_set, "documentId", header["id"])
        excluding = sum((line["amountExcludingTax"] for line in lines), Decimal(0))
        tax = sum((line["totalTaxAmount"] for line in lines), Decimal(0))
        totals = {"discountAmount": sum((line["discountAmount"] for line in lines), Decimal(0)),
                  "totalAmountExcludingTax": excluding, "totalTaxAmount": tax,
                  "totalAmountIncludingTax": excluding + tax}
        if set_name == "salesInvoices" and header["status"] == "Draft":
            totals["remainingAmount"] = excluding + tax
        self.modify(company, set_name, header, totals)

    def ship_and_invoice(self, company: Company, order: Record) -> Record:
        """Ship and invoice a whole order: a posted invoice that remembers the order; the order is deleted."""
        lines = self.children(company, "salesOrderLines", "documentId", order["id"])
        if not [line for line in lines if line["quantity"]]:
            raise dialog("There is nothing to post.")
        header = {k: order[k] for k in ("customerId", "externalDocumentNumber", "currencyCode", "pricesIncludeTax",
                                        "postingDate")}
        invoice = self._create_sales_header(company, "salesInvoices", header, "S-INV", 102000)
        self.modify(company, "salesInvoices", invoice, {"orderId": order["id"], "orderNumber": order["number"]})
        for line in lines:
            values = {k: v for k, v in line.items() if k in ("itemId", "lineType", "lineObjectNumber", "description",
                                                             "unitOfMeasureCode", "quantity", "unitPrice",
                                                             "discountAmount", "discountPercent", "taxPercent")}
            if values.get("lineType") == "Item":
                values.pop("lineObjectNumber", None)
            self._create_salesInvoiceLines(company, values, invoice)
        self.post_invoice(company, invoice)
        for line in lines:
            self.remove(company, "salesOrderLines", line["id"])
        self.remove(company, "salesOrders", order["id"])
        return invoice

    def lookup(self, company: Company, set_name: str, key: str) -> Record:
        record = company.table(set_name).get(key.lower())
        if record is None:
            raise not_found(f"The {SETS[set_name].type_name} with id {key}")
        return record
