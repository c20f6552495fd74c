"""Changed keys travel as the JSON text the database wrote: joined and decoded without loss."""

from __future__ import annotations

from ingest.services.loading.keys import decode_keys, join_arrays


def test_join_arrays_keeps_every_element_in_order_and_skips_empty_ones():
    assert join_arrays(['["a", "b"]', "[]", None, '[ "c" ]', '["d","e"]']) == '["a", "b", "c", "d","e"]'
    assert join_arrays([]) == "[]"
    assert join_arrays(["[]", "[ ]"]) == "[]"


def test_decode_keys_gives_tuples_for_one_field_and_composite_keys():
    assert decode_keys(['["SO-1", "SO-2"]', "[]", None]) == [("SO-1",), ("SO-2",)]
    assert decode_keys(['[["SO-1", 1], ["SO-1", 2]]']) == [("SO-1", 1), ("SO-1", 2)]
    assert decode_keys([join_arrays(['["a\\"b"]', '["c|d"]'])]) == [('a"b',), ("c|d",)]
