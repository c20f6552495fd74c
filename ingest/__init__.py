"""Turns S3 objects (System One files) into website rows: events, tasks, parsing, loading, admin."""
