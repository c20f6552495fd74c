"""Observing: how fresh each stream is (``freshness``, ``event_clock``), hourly aggregates
(``hourly``, rolled up by ``rollup`` so that they outlive pruning), what System Two sends that
the contract does not name (``contract_drift``), percentiles (``percentiles``), the Prometheus
metrics (``prometheus``) and the periodic jobs the consumer runs (``periodic``)."""
