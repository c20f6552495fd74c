"""Intake: S3 objects become registered import files, each exactly once.

``notifications`` reads S3 event notifications from SQS bodies, ``consumer`` runs the SQS loop,
``registration`` writes the ``ImportFile`` (unique per object version; ``ledger`` remembers the
pruned ones), ``sweep`` finds pending
files whose task was lost, ``broker_watch`` notices a broker that restarted empty, ``outages``
logs a dependency going away and coming back, ``error_output`` registers Firehose's
processing-failed records.
"""
