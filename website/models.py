"""The website's models: one per System Two stream, fields named after the contract in snake_case.

Every column but the natural key is nullable: a placeholder (a row referred to before its
own event arrived) and a key whose first event is a delete hold only their key. The
importer writes these tables with ``INSERT ... ON CONFLICT`` statements; see
``ingest/services/loading/``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django.db import models
from django.db.models.expressions import Combinable

from transforms.streams import MAX_CODE_LENGTH, MAX_KEY_LENGTH, MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, STREAMS


def _choices(stream: str, field: str) -> list[tuple[str, str]]:
    spec = next(f for f in STREAMS[stream].fields if f.name == field)
    return [(value, value.replace("_", " ").lower()) for value in spec.values]


def key_field(**kwargs: Any) -> models.CharField[str | int | Combinable, str]:
    return models.CharField(max_length=MAX_KEY_LENGTH, **kwargs)


def money_field() -> models.DecimalField[str | float | Decimal | Combinable | None, Decimal | None]:
    return models.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, null=True, blank=True)


def text_field() -> models.TextField[str | Combinable | None, str | None]:
    return models.TextField(null=True, blank=True)


def code_field() -> models.CharField[str | int | Combinable | None, str | None]:
    return models.CharField(max_length=MAX_CODE_LENGTH, null=True, blank=True)


def enum_field(stream: str, field: str = "status") -> models.CharField[str | int | Combinable | None, str | None]:
    return models.CharField(max_length=32, null=True, blank=True, choices=_choices(stream, field))


def reference(
    to: str | type[models.Model], to_field: str, related_name: str, *, null: bool = True, db_index: bool = True
) -> models.ForeignKey[Any, Any]:
    # No cascade in Django: the importer never deletes website rows (a delete event only
    # marks them), and a reference may point at a placeholder until its own event arrives.
    return models.ForeignKey(
        to,
        to_field=to_field,
        on_delete=models.DO_NOTHING,
        related_name=related_name,
        null=null,
        blank=null,
        # The importer keeps references whole (placeholders); a deleted row with only its key
        # may name an order that has no row, which a database constraint would refuse.
        db_constraint=False,
        db_index=db_index,
    )


class SourceTracked(models.Model):
    """What every website row keeps about the System Two event and the import that last wrote it."""

    # Every concrete model gets Django's default manager; said here for the type checker, which
    # gives an abstract model none.
    objects: ClassVar[models.Manager[Any]]

    source_version = models.BigIntegerField(null=True, blank=True)
    source_event_id = models.CharField(max_length=36, null=True, blank=True)
    source_occurred_at = models.DateTimeField(null=True, blank=True)
    is_deleted = models.BooleanField(default=False)
    is_placeholder = models.BooleanField(default=False)
    # The members of the applied event's data that the contract does not (yet) name, as sent;
    # NULL when there were none. Replaced with each applied version; ``manage.py adopt_field``
    # moves one into its new column (docs/operations.md, "Adopting a new field").
    source_extras = models.JSONField(null=True, blank=True)
    last_import = models.ForeignKey(
        "ingest.ImportFile",
        # Pruning deletes import files (ingest/services/retention/prune.py): without an index here a
        # constraint would check every website table row by row; a pruned file's id stays and
        # names its ledger entry (ImportLedgerEntry.import_file_id).
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        # Every imported row writes this column; an index on it would be paid on every write.
        db_index=False,
    )

    class Meta:
        abstract = True


class Customer(SourceTracked):
    customer_number = key_field(unique=True)
    name = text_field()
    email = text_field()
    phone = text_field()
    status = enum_field("customers")
    credit_limit = money_field()
    currency = code_field()
    billing_line1 = text_field()
    billing_line2 = text_field()
    billing_city = text_field()
    billing_region = text_field()
    billing_postal_code = text_field()
    billing_country_code = code_field()

    class Meta:
        ordering = ["customer_number"]
        indexes = [models.Index(fields=["status"], name="website_customer_status")]

    def __str__(self) -> str:
        return self.customer_number


class Order(SourceTracked):
    order_number = key_field(unique=True)
    customer = reference(Customer, "customer_number", "orders")
    order_date = models.DateField(null=True, blank=True)
    status = enum_field("orders")
    currency = code_field()
    subtotal = money_field()
    tax = money_field()
    shipping = money_field()
    total = money_field()
    po_number = text_field()
    requested_ship_date = models.DateField(null=True, blank=True)
    rush = models.BooleanField(null=True, blank=True)
    # Set from the estimates stream, never by the order's own events.
    quote_number = text_field()
    quote_version = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["order_number"]
        indexes = [models.Index(fields=["status"], name="website_order_status")]

    def __str__(self) -> str:
        return self.order_number


class OrderLine(SourceTracked):
    # The (order, line_number) key's unique index serves lookups by order too.
    order = reference(Order, "order_number", "lines", null=False, db_index=False)
    line_number = models.BigIntegerField()
    sku = text_field()
    description = text_field()
    quantity = models.BigIntegerField(null=True, blank=True)
    unit_price = money_field()
    extended_price = money_field()
    imprint_method = text_field()
    imprint_colors = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["order_id", "line_number"]
        constraints = [models.UniqueConstraint(fields=["order", "line_number"], name="website_orderline_key")]

    def __str__(self) -> str:
        return f"{self.order_id}/{self.line_number}"


class Invoice(SourceTracked):
    invoice_number = key_field(unique=True)
    order = reference(Order, "order_number", "invoices")
    customer = reference(Customer, "customer_number", "invoices")
    invoice_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    status = enum_field("invoices")
    currency = code_field()
    total = money_field()
    balance_due = money_field()

    class Meta:
        ordering = ["invoice_number"]
        indexes = [models.Index(fields=["status"], name="website_invoice_status")]

    def __str__(self) -> str:
        return self.invoice_number


class InvoiceLine(SourceTracked):
    invoice = reference(Invoice, "invoice_number", "lines", null=False, db_index=False)
    line_number = models.BigIntegerField()
    order_line_number = models.BigIntegerField(null=True, blank=True)
    sku = text_field()
    description = text_field()
    quantity = models.BigIntegerField(null=True, blank=True)
    unit_price = money_field()
    amount = money_field()

    class Meta:
        ordering = ["invoice_id", "line_number"]
        constraints = [models.UniqueConstraint(fields=["invoice", "line_number"], name="website_invoiceline_key")]

    def __str__(self) -> str:
        return f"{self.invoice_id}/{self.line_number}"


class Shipment(SourceTracked):
    shipment_number = key_field(unique=True)
    order = reference(Order, "order_number", "shipments")
    carrier = enum_field("shipments", "carrier")
    service = text_field()
    tracking_numbers = models.JSONField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    status = enum_field("shipments")
    package_count = models.BigIntegerField(null=True, blank=True)
    weight_lb = money_field()

    class Meta:
        ordering = ["shipment_number"]
        indexes = [models.Index(fields=["status"], name="website_shipment_status")]

    def __str__(self) -> str:
        return self.shipment_number


class ShippingAddress(SourceTracked):
    address_id = key_field(unique=True)
    order = reference(Order, "order_number", "shipping_addresses")
    name = text_field()
    company = text_field()
    line1 = text_field()
    line2 = text_field()
    city = text_field()
    region = text_field()
    postal_code = text_field()
    country_code = code_field()
    phone = text_field()
    residential = models.BooleanField(null=True, blank=True)

    class Meta:
        ordering = ["address_id"]
        verbose_name_plural = "shipping addresses"

    def __str__(self) -> str:
        return self.address_id


class VirtualRequest(SourceTracked):
    request_number = key_field(unique=True)
    order = reference(Order, "order_number", "virtual_requests")
    line_number = models.BigIntegerField(null=True, blank=True)
    status = enum_field("virtual-requests")
    requested_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    artwork_files = models.JSONField(null=True, blank=True)
    instructions = text_field()

    class Meta:
        ordering = ["request_number"]
        indexes = [models.Index(fields=["status"], name="website_vrequest_status")]

    def __str__(self) -> str:
        return self.request_number


class Estimate(SourceTracked):
    estimate_number = key_field(unique=True)
    order = reference(Order, "order_number", "estimates")
    customer = reference(Customer, "customer_number", "estimates")
    quote_number = text_field()
    quote_version = models.BigIntegerField(null=True, blank=True)
    status = enum_field("estimates")
    total = money_field()

    class Meta:
        ordering = ["estimate_number"]
        indexes = [models.Index(fields=["status"], name="website_estimate_status")]

    def __str__(self) -> str:
        return self.estimate_number


MODELS_BY_STREAM: dict[str, type[SourceTracked]] = {spec.name: globals()[spec.model] for spec in STREAMS.values()}
