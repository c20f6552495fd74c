"""The nine System Two models in Django admin: searchable, filterable, read-only.

The data comes from System Two through the ingest, so nobody edits it here. The changelists
are built for tables of millions of rows: no join and no query per row (references are shown
from their key column, the import that last wrote a row from its id), sorting only on the
indexed natural key, and no full COUNT(*) (see ``ingest.admin.helpers.BigTableAdmin``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from ingest.admin.helpers import BigTableAdmin, import_file_link, truncate
from website.models import (
    Customer,
    Estimate,
    Invoice,
    InvoiceLine,
    Order,
    OrderLine,
    Shipment,
    ShippingAddress,
    SourceTracked,
    VirtualRequest,
)

if TYPE_CHECKING:  # the stubs' names of what a ModelAdmin's list display and filters hold
    from django.contrib.admin.options import _ListDisplayT, _ListFilterT
    from django.utils.datastructures import _ListOrTuple

TEXT_COLUMN_CHARS = 60


def reference_column(
    attname: str, target: type[Model], key: str, description: str
) -> Callable[[admin.ModelAdmin[Any], Model], str]:
    """A ModelAdmin method showing a reference by its natural key (the FK column itself, so no join),
    linked to the referenced model's list filtered on that key: it works for placeholders too."""

    @admin.display(description=description, ordering=attname)
    def column(model_admin: admin.ModelAdmin[Any], obj: Model) -> str:
        value = getattr(obj, attname)
        if value is None:
            return "-"
        url = reverse(f"admin:{target._meta.app_label}_{target._meta.model_name}_changelist")
        return format_html('<a href="{}?{}">{}</a>', url, urlencode({key: value}), value)

    column.__name__ = f"{attname}_column"
    return column


def text_column(field: str, description: str | None = None) -> Callable[[Model], str]:
    """A free-text column cut to a readable width (the detail page shows all of it)."""

    @admin.display(description=description or field.replace("_", " "))
    def column(obj: Model) -> str:
        return truncate(getattr(obj, field), TEXT_COLUMN_CHARS)

    column.__name__ = f"{field}_column"
    return column


class LineSearchMixin:
    """Search of a line model by its parent's key, exactly (``SO-104233``) or with the line
    (``SO-104233/2``): the (parent, line_number) unique index answers both, where a prefix LIKE
    would read the whole table (that index cannot serve LIKE)."""

    parent_attname: str

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        parent, slash, line = term.rpartition("/")
        if slash and line.isdigit():
            return queryset.filter(
                **{f"{self.parent_attname}__in": {parent, parent.upper()}, "line_number": int(line)}
            ), False
        return queryset.filter(**{f"{self.parent_attname}__in": {term, term.upper()}}), False


class SourceRowAdmin(BigTableAdmin):
    """What every website model's admin shares: the source columns, the flags and the import link."""

    source_columns = ("is_placeholder", "is_deleted", "source_version", "source_occurred_at", "last_import_column")
    flag_filters = ("is_placeholder", "is_deleted")

    def get_list_display(self, request: HttpRequest) -> _ListDisplayT[Any]:
        return (*self.list_display, *self.source_columns)

    def get_list_filter(self, request: HttpRequest) -> _ListOrTuple[_ListFilterT]:
        return (*self.flag_filters, *self.list_filter)

    @admin.display(description="last import")
    def last_import_column(self, obj: SourceTracked) -> str:
        return import_file_link(obj.last_import_id)

    # The row's page shows the unknown fields of its event (source_extras) as indented JSON, last.
    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> tuple[str, ...]:
        return (*super().get_readonly_fields(request, obj), "unknown_fields")

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:  # type: ignore[override]
        names = [f for f in super().get_fields(request, obj) if isinstance(f, str)]  # flat: no fieldsets here
        return [*(f for f in names if f not in ("source_extras", "unknown_fields")), "unknown_fields"]

    @admin.display(description="unknown fields (source_extras)")
    def unknown_fields(self, obj: Model) -> str:
        extras = getattr(obj, "source_extras", None)
        if extras is None:
            return "-"
        return format_html("<pre>{}</pre>", json.dumps(extras, indent=2, ensure_ascii=False, sort_keys=True))


@admin.register(Customer)
class CustomerAdmin(SourceRowAdmin):
    list_display = (
        "customer_number",
        text_column("name"),
        text_column("email"),
        "status",
        "credit_limit",
        "currency",
        text_column("billing_city", "city"),
        "billing_country_code",
    )
    list_display_links = ("customer_number",)
    list_filter = ("status",)
    search_fields = ("customer_number__startswith", "name__icontains")
    search_help_text = "The start of a customer number, or a part of the name."
    sortable_by = ("customer_number",)
    raw_id_fields = ("last_import",)


@admin.register(Order)
class OrderAdmin(SourceRowAdmin):
    list_display = (
        "order_number",
        "customer_column",
        "order_date",
        "status",
        "currency",
        "total",
        "rush",
        "quote_number",
        "quote_version",
    )
    list_display_links = ("order_number",)
    list_filter = ("status", "rush")
    search_fields = ("order_number__startswith",)
    search_help_text = "The start of an order number."
    sortable_by = ("order_number",)
    raw_id_fields = ("customer", "last_import")

    customer_column = reference_column("customer_id", Customer, "customer_number", "customer")


@admin.register(OrderLine)
class OrderLineAdmin(LineSearchMixin, SourceRowAdmin):
    parent_attname = "order_id"
    list_display = (
        "line_display",
        "order_column",
        "line_number",
        "sku",
        text_column("description"),
        "quantity",
        "unit_price",
        "extended_price",
        "imprint_method",
    )
    list_display_links = ("line_display",)
    search_fields = ("order_id",)  # searched by LineSearchMixin
    search_help_text = "An order number (SO-104233), or an order and a line (SO-104233/2)."
    sortable_by = ("order_column",)
    raw_id_fields = ("order", "last_import")

    @admin.display(description="line")
    def line_display(self, obj: OrderLine) -> str:
        return f"{obj.order_id}/{obj.line_number}"

    order_column = reference_column("order_id", Order, "order_number", "order")


@admin.register(Invoice)
class InvoiceAdmin(SourceRowAdmin):
    list_display = (
        "invoice_number",
        "order_column",
        "customer_column",
        "invoice_date",
        "due_date",
        "status",
        "currency",
        "total",
        "balance_due",
    )
    list_display_links = ("invoice_number",)
    list_filter = ("status",)
    search_fields = ("invoice_number__startswith",)
    search_help_text = "The start of an invoice number."
    sortable_by = ("invoice_number",)
    raw_id_fields = ("order", "customer", "last_import")

    order_column = reference_column("order_id", Order, "order_number", "order")
    customer_column = reference_column("customer_id", Customer, "customer_number", "customer")


@admin.register(InvoiceLine)
class InvoiceLineAdmin(LineSearchMixin, SourceRowAdmin):
    parent_attname = "invoice_id"
    list_display = (
        "line_display",
        "invoice_column",
        "line_number",
        "order_line_number",
        "sku",
        text_column("description"),
        "quantity",
        "unit_price",
        "amount",
    )
    list_display_links = ("line_display",)
    search_fields = ("invoice_id",)  # searched by LineSearchMixin
    search_help_text = "An invoice number (INV-000123), or an invoice and a line (INV-000123/2)."
    sortable_by = ("invoice_column",)
    raw_id_fields = ("invoice", "last_import")

    @admin.display(description="line")
    def line_display(self, obj: InvoiceLine) -> str:
        return f"{obj.invoice_id}/{obj.line_number}"

    invoice_column = reference_column("invoice_id", Invoice, "invoice_number", "invoice")


@admin.register(Shipment)
class ShipmentAdmin(SourceRowAdmin):
    list_display = (
        "shipment_number",
        "order_column",
        "carrier",
        "service",
        "status",
        "shipped_at",
        "package_count",
        "weight_lb",
    )
    list_display_links = ("shipment_number",)
    list_filter = ("status", "carrier")
    search_fields = ("shipment_number__startswith",)
    search_help_text = "The start of a shipment number."
    sortable_by = ("shipment_number",)
    raw_id_fields = ("order", "last_import")

    order_column = reference_column("order_id", Order, "order_number", "order")


@admin.register(ShippingAddress)
class ShippingAddressAdmin(SourceRowAdmin):
    list_display = (
        "address_id",
        "order_column",
        text_column("name"),
        text_column("company"),
        text_column("city"),
        "country_code",
        "residential",
    )
    list_display_links = ("address_id",)
    list_filter = ("residential",)
    search_fields = ("address_id__startswith", "name__icontains", "company__icontains")
    search_help_text = "The start of an address id, or a part of the name or company."
    sortable_by = ("address_id",)
    raw_id_fields = ("order", "last_import")

    order_column = reference_column("order_id", Order, "order_number", "order")


@admin.register(VirtualRequest)
class VirtualRequestAdmin(SourceRowAdmin):
    list_display = (
        "request_number",
        "order_column",
        "line_number",
        "status",
        "requested_at",
        "due_at",
    )
    list_display_links = ("request_number",)
    list_filter = ("status",)
    search_fields = ("request_number__startswith",)
    search_help_text = "The start of a request number."
    sortable_by = ("request_number",)
    raw_id_fields = ("order", "last_import")

    order_column = reference_column("order_id", Order, "order_number", "order")


@admin.register(Estimate)
class EstimateAdmin(SourceRowAdmin):
    list_display = (
        "estimate_number",
        "order_column",
        "customer_column",
        "quote_number",
        "quote_version",
        "status",
        "total",
    )
    list_display_links = ("estimate_number",)
    list_filter = ("status",)
    search_fields = ("estimate_number__startswith", "quote_number__startswith")
    search_help_text = "The start of an estimate or quote number."
    sortable_by = ("estimate_number",)
    raw_id_fields = ("order", "customer", "last_import")

    order_column = reference_column("order_id", Order, "order_number", "order")
    customer_column = reference_column("customer_id", Customer, "customer_number", "customer")
