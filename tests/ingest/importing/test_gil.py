"""The shorter GIL switch interval lasts while any import parses ahead, and no longer."""

from __future__ import annotations

import sys

from ingest.services.importing.gil import PARSE_SWITCH_INTERVAL, short_switch_interval


def test_interval_is_short_inside_and_restored_when_the_last_caller_leaves():
    before = sys.getswitchinterval()
    outer = short_switch_interval()
    outer.__enter__()
    with short_switch_interval():
        assert sys.getswitchinterval() == min(before, PARSE_SWITCH_INTERVAL)
    # Another import is still parsing ahead: the interval stays short.
    assert sys.getswitchinterval() == min(before, PARSE_SWITCH_INTERVAL)
    outer.__exit__(None, None, None)
    assert sys.getswitchinterval() == before
