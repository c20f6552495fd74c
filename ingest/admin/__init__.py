"""The ingest in Django admin: every import, its attempts and bad lines, re-import, freshness.

Django's autodiscovery imports this package; it imports every module that registers an admin:
imports (files, attempts, re-import, freshness page), line_errors, unreadable_messages,
contract_drift and envelope_extras (System Two's unknown fields and failed records per stream),
reconciliation (runs against System Two's snapshots), retention (the ledger of pruned files and the
aggregates), and the operators' admin (failed_records: Firehose's error output and the redrive;
change_notifications: the outbox). raw_lines holds how text from files is shown; helpers, views and
charts the building blocks, the freshness dashboard and its SVG charts.

Everything here is read-only: the ingest writes these tables, people only look and re-import.
Text that comes from files (keys, raw lines, error messages) is escaped: ``format_html`` and
Django's autoescaping, never ``mark_safe``.
"""

from __future__ import annotations

from django.contrib import admin

# The admin index links the freshness dashboard; admin.site stays the one default site.
admin.site.index_template = "admin/ingest/site_index.html"

from ingest.admin import (  # noqa: E402
    change_notifications,
    contract_drift,
    failed_records,
    imports,
    line_errors,
    reconciliation,
    retention,
    unreadable_messages,
)
from ingest.admin.raw_lines import INLINE_LINE_ERRORS, RAW_LINE_DISPLAY_CHARS, raw_line_block  # noqa: E402

__all__ = [
    "INLINE_LINE_ERRORS",
    "RAW_LINE_DISPLAY_CHARS",
    "change_notifications",
    "contract_drift",
    "failed_records",
    "imports",
    "line_errors",
    "raw_line_block",
    "reconciliation",
    "retention",
    "unreadable_messages",
]
