"""Repair: putting things right (``reimport``, ``redrive``, ``reconcile`` against System Two's
snapshots, ``adopt_field`` for a field System Two added)."""
