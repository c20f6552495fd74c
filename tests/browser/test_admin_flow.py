"""An operator's round in the admin, in a real browser against a live server: log in, check the
freshness dashboard, find the failed import, read why and which line was bad, re-import it, and
see its new status. Screenshots of the dashboard and of the import's page are saved."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Dialog, expect

from ingest.models import ImportFile, ImportStatus
from tests.ingest.admin.factories import HOSTILE_LINE, failed_after_line_errors, imported_file, write_orders_file

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)


def test_find_read_and_reimport_a_failed_file(browser, live_server, settings, operator, tmp_path, screenshots_dir):
    settings.INGEST_ADMIN_REIMPORT_SYNC = True
    imported_file(write_orders_file(tmp_path, "fine-file", bad_lines=(), seed=4))
    failed, _ = failed_after_line_errors(tmp_path)

    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(15_000)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    # Log in.
    page.goto(f"{live_server.url}/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#ingest-dashboard-link")).to_be_visible()

    # The dashboard: orders was imported just now, a stream without imports is stale.
    page.click("text=Freshness dashboard")
    expect(page.locator("h1")).to_have_text("Ingest freshness")
    orders = page.locator('tr[data-stream="orders"]')
    expect(orders.locator(".ingest-badge")).to_have_text("fresh")
    expect(page.locator('tr[data-stream="invoices"] .ingest-badge')).to_have_text("stale")
    expect(orders.locator("td").nth(13)).to_have_text("1")  # failed
    page.screenshot(path=str(screenshots_dir / "freshness-dashboard.png"), full_page=True)

    # Its charts, drawn by the server as SVG: per stream, lag and rows per hour, 24 h and 7 days.
    charts = page.locator("#ingest-charts")
    expect(charts.locator("svg.ingest-chart")).to_have_count(4 * 9)
    orders_charts = charts.locator('tr[data-stream="orders"]')
    expect(orders_charts.locator("svg.ingest-chart--rows .bar")).to_have_count(2)  # this hour, in both windows
    expect(orders_charts.locator("svg.ingest-chart--lag circle.p95")).to_have_count(2)
    expect(charts.locator('tr[data-stream="invoices"] svg.ingest-chart--rows text.empty').first).to_have_text("no rows")
    box = orders_charts.locator("svg.ingest-chart").first.bounding_box()
    assert box is not None and box["width"] >= 300 and box["height"] >= 80
    charts.screenshot(path=str(screenshots_dir / "freshness-charts.png"))

    # The imports list, filtered on failed.
    page.click("text=All imports")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    page.screenshot(path=str(screenshots_dir / "imports-list.png"), full_page=True)
    page.locator("#changelist-filter a", has_text=re.compile(r"^failed$")).click()
    expect(page).to_have_url(re.compile(r"status__exact=failed"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.locator(".ingest-badge")).to_have_text("failed")

    # Its page: why it failed, and the bad line of its first attempt, shown as text.
    rows.locator("th a").first.click()
    expect(page.locator("div.field-status_display .ingest-badge")).to_have_text("failed")
    expect(page.locator("div.field-error pre")).to_contain_text("SourceMissing")
    raw = page.locator("pre.ingest-raw-line", has_text="not a record").first
    expect(raw).to_have_text(HOSTILE_LINE)
    assert raw.locator("b, script").count() == 0
    error_row = raw.locator("xpath=ancestor::tr[1]")
    line_number = failed.line_errors.get().line_number
    expect(error_row.locator(".field-line_number")).to_have_text(str(line_number))

    # Re-import it; the page comes back with the new status and the message.
    page.click("#ingest-reimport-button")
    expect(page.locator("ul.messagelist")).to_contain_text("1 imported")
    expect(page.locator("div.field-status_display .ingest-badge")).to_have_text("imported with errors")
    expect(page.locator("div.field-attempts_count .readonly")).to_have_text("3")
    page.screenshot(path=str(screenshots_dir / "import-detail.png"), full_page=True)

    failed.refresh_from_db()
    assert failed.status == ImportStatus.IMPORTED_WITH_ERRORS
    assert failed.attempts.count() == 3
    assert ImportFile.objects.filter(status=ImportStatus.FAILED).count() == 0
    assert dialogs == []
    assert (screenshots_dir / "freshness-dashboard.png").stat().st_size > 0
    assert (screenshots_dir / "freshness-charts.png").stat().st_size > 0
    assert (screenshots_dir / "import-detail.png").stat().st_size > 0
