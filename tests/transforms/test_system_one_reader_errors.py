"""transforms.system_one: the reader rejects malformed lines with a message that says why."""

from __future__ import annotations

import pytest

from tests.transforms.samples import EVENT_ID, customer, order_line
from transforms.system_one import SystemOneFormatError, read_record, write_record

GOOD = write_record(order_line())[:-1]
GOOD_CUSTOMER = write_record(customer())[:-1]


def replace(old: str, new: str, line: str = GOOD) -> str:
    assert old in line
    return line.replace(old, new, 1)


MALFORMED = [
    ("", "header fields"),
    ("OLN|1|U", "header fields"),
    (replace("OLN|", "XXX|"), "unknown record type 'XXX'"),
    (replace("OLN|", "oln|"), "unknown record type"),
    (replace("OLN|1|", "OLN|2|"), "layout version '2'"),
    (replace("OLN|1|", "OLN||"), "layout version ''"),
    (replace("|U|", "|X|"), "operation must be U"),
    (replace("|U|", "|u|"), "operation must be U"),
    (replace(EVENT_ID, "not-a-uuid"), "eventId is not a UUID"),
    (replace("|42|", "|0|"), "version must be an integer from 1"),
    (replace("|42|", "|-1|"), "version must be"),
    (replace("|42|", "|042|"), "version must be"),
    (replace("|42|", "|4x|"), "version must be"),
    (replace("|42|", "|9223372036854775808|"), "version must be"),
    (replace("2026-11-27T10:15:30.123Z", "2026-11-27T10:15:30.123"), "occurredAt"),
    (replace("2026-11-27T10:15:30.123Z", "2026-02-30T10:15:30Z"), "occurredAt"),
    (replace("|sku=", "|sku"), "has no '='"),
    (replace("|sku=JRNL", "|sku=JR=NL"), "more than one raw '='"),
    (replace("|sku=", "|color=red|sku="), None),  # a column of a newer layout: kept as an extra
    (replace("|sku=", "|color=red|color=blue|sku="), "appears twice"),
    (f"OLN|1|D|{EVENT_ID}|8|2026-11-28T08:00:00Z|orderNumber=SO-1|lineNumber=1|color=red", "a delete has no data"),
    (replace("|sku=", "|sku=x|sku="), "field 'sku' appears twice"),
    (replace("orderNumber=SO-104233|", ""), "required field orderNumber is missing"),
    (replace("orderNumber=SO-104233", "orderNumber=\\N"), "required field orderNumber is null"),
    (replace("orderNumber=SO-104233", "orderNumber="), "field orderNumber: is empty, but it is a key"),
    (replace("orderNumber=SO-104233", "orderNumber=" + "x" * 129), "longer than the 128"),
    (replace("|lineNumber=3|", "|"), "required field lineNumber is missing"),
    (replace("lineNumber=3", "lineNumber=three"), "field lineNumber: is not an integer"),
    (replace("lineNumber=3", "lineNumber=03"), "not a canonical integer"),
    (replace("lineNumber=3", "lineNumber=+3"), "not a canonical integer"),
    (replace("lineNumber=3", "lineNumber=-0"), "not a canonical integer"),
    (replace("lineNumber=3", "lineNumber= 3"), "not a canonical integer"),
    (replace("lineNumber=3", "lineNumber=1_0"), "not a canonical integer"),
    (replace("lineNumber=3", "lineNumber=9223372036854775808"), "64-bit"),
    (replace("quantity=250", "quantity=2.5"), "field quantity: is not an integer"),
    (replace("|quantity=250|", "|"), "required field quantity is missing"),
    (replace("quantity=250", "quantity=\\N"), "required field quantity is null"),
    (replace("unitPrice=4.1500", "unitPrice=4,15"), "unitPrice: must be a decimal string"),
    (replace("unitPrice=4.1500", "unitPrice=4.15000"), "unitPrice: must be a decimal string"),
    (replace("unitPrice=4.1500", "unitPrice=1" + "0" * 24), "more than 24 digits"),
    (replace("imprintColors=PMS 286 C;White;", "imprintColors=PMS 286 C;White"), "ends in ';'"),
    (replace("imprintColors=PMS 286 C;White;", 'imprintColors=["White"]'), "ends in ';'"),
    (replace("description=A5", "description=A5\\q"), "field description: unknown escape \\q"),
    (replace("description=A5", "description=A5\\u00"), "4 hex digits"),
    (replace("description=A5", "description=A5\\uD800"), "lone surrogate"),
    (replace("description=A5", "description=A5\\N"), "must be the whole value"),
    (replace("description=A5 hardcover journal, black linen, 240 pages", "description=A5\\"), "dangling"),
    (replace("description=A5", "description=A5\x85"), "raw control or line-break character U+0085"),
    (replace("description=A5", "description=A5\r"), "U+000D"),
    (replace("description=A5", "description=A5\x00"), "U+0000"),
    (replace("description=A5", "description=A5\u2028"), "U+2028"),
    (GOOD + "\n\n", "U+000A"),
    (replace("|sku=", "|+x=1|sku="), None),  # a data extra is fine...
    (replace("|sku=", "|+x={|sku="), "'+x': is not JSON"),
    (replace("|sku=", "|+x=NaN|sku="), "NaN is not a JSON number"),
    (replace("|sku=", '|+sku="X"|sku='), "'+sku': appears twice (as sku and as an extra)"),
    (replace("|sku=JRNL-A5-BLK|", "|+sku=1|"), "'+sku': sku: must be a string"),  # an extra since adopted
    (replace("|sku=", '|+orderNumber="SO-1"|sku='), "'+orderNumber': is a key field, not an extra"),
    (replace("|sku=", "|+x=1|+x=2|sku="), "appears twice"),
    (replace("|sku=", "|+x=1|+\\u0078=2|sku="), "appears twice"),
    (replace("|sku=", "|+nothing.x=1|sku="), "'nothing' is not an object field"),
    (replace("|sku=", "|@eventId=1|sku="), "the envelope member 'eventId' cannot be an extra"),
    (replace("|sku=", "|@data=null|sku="), "the envelope member 'data' cannot be an extra"),
    (replace("|sku=", "|@x=\\uD800|sku="), "lone surrogate"),
    (replace("|sku=", '|@x="\\\\ud800"|sku='), "surrogate"),
    (replace("status=ACTIVE", "status=active", GOOD_CUSTOMER), "status: must be one of ACTIVE, INACTIVE, ON_HOLD"),
    (replace("currency=USD", "currency=usd", GOOD_CUSTOMER), "currency: must be an upper-case code"),
    (replace("currency=USD", "currency=", GOOD_CUSTOMER), "currency: must be an upper-case code, not empty"),
    (replace("|billingAddress.city=X", "", GOOD_CUSTOMER), "required field billingAddress.city is missing"),
    (replace("billingAddress.city=X", "billingAddress.city=\\N", GOOD_CUSTOMER), "billingAddress.city is null"),
    (
        replace(
            "|billingAddress.line1=1 Main|billingAddress.line2=\\N|billingAddress.city=X|", "|", GOOD_CUSTOMER
        ).replace("|billingAddress.countryCode=US", ""),
        "required field billingAddress is missing",
    ),
    (replace("|name=", "|billingAddress=\\N|name=", GOOD_CUSTOMER), "object billingAddress is null but has members"),
    (replace("|name=", "|billingAddress=|name=", GOOD_CUSTOMER), "marked empty but has members"),
    (replace("|name=", "|billingAddress=x|name=", GOOD_CUSTOMER), "own value must be empty"),
    (replace("|name=", "|billingAddress.zip=1|name=", GOOD_CUSTOMER), None),  # a newer layout's member
    (
        f"OLN|1|D|{EVENT_ID}|8|2026-11-28T08:00:00Z|orderNumber=SO-1|lineNumber=1|sku=x",
        "a delete carries only its key, but this one has sku",
    ),
    (f"OLN|1|D|{EVENT_ID}|8|2026-11-28T08:00:00Z|orderNumber=SO-1", "key field lineNumber is missing"),
    (f"OLN|1|D|{EVENT_ID}|8|2026-11-28T08:00:00Z|orderNumber=\\N|lineNumber=1", "key field orderNumber is null"),
    (f"OLN|1|D|{EVENT_ID}|8|2026-11-28T08:00:00Z|orderNumber=SO-1|lineNumber=1|+x=1", "a delete has no data"),
    (f"OLN|1|D|{EVENT_ID}|8|2026-11-28T08:00:00Z|orderNumber=SO-1|lineNumber=1|@data={{}}", "cannot be an extra"),
    (f"OLN|1|D|{EVENT_ID}|8|2026-11-28T08:00:00Z|orderNumber=SO-1|lineNumber=x", "lineNumber: is not an integer"),
    (f"SHP|1|D|{EVENT_ID}|8|2026-11-28T08:00:00Z|shipmentNumber=S|@data=null|@data=null", "appears twice"),
]


@pytest.mark.parametrize(("line", "message"), MALFORMED)
def test_reader_rejects_malformed_lines(line, message):
    if message is None:
        read_record(line)
        return
    with pytest.raises(SystemOneFormatError) as error:
        read_record(line)
    assert message in str(error.value), str(error.value)


def test_reader_rejects_bad_utf8_bytes_and_other_types():
    with pytest.raises(SystemOneFormatError, match="not UTF-8"):
        read_record(GOOD.encode("utf-8") + b"\xff")
    with pytest.raises(TypeError):
        read_record(42)  # type: ignore[arg-type]


def test_messages_name_the_record_type():
    with pytest.raises(SystemOneFormatError, match=r"^OLN record: field lineNumber: "):
        read_record(replace("lineNumber=3", "lineNumber=x"))


def test_reader_accepts_fields_in_any_order():
    parts = GOOD.split("|")
    shuffled = "|".join(parts[:6] + parts[6:][::-1])
    assert read_record(shuffled) == read_record(GOOD)
