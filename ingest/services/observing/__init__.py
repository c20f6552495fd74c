"""Observing: how fresh each stream is (``freshness``, ``event_clock``), hourly aggregates
(``hourly``), percentiles (``percentiles``), the Prometheus metrics (``prometheus``) and the
periodic jobs the consumer runs (``periodic``)."""
