"""Retention: the ingest's own records prune themselves (``prune``), in small batches, after their
hour is rolled up (``observing/rollup``) and with a ledger entry for every pruned file
(``intake/ledger``), so that exactly once never forgets."""
