"""Changes: the outbox of keys an import changed (``outbox``) and the signal that tells the
website (``signals.rows_changed``)."""
