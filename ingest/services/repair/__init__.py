"""Repair: what an operator runs to put things right (``reimport``, ``redrive``)."""
