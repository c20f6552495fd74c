"""A local stand-in for the AWS edge of the pipeline (API Gateway → Kinesis → Firehose), for
development and ``manage.py demo`` only: no AWS account, no Docker, no services to install.

- ``api``: ``POST /v1/{stream}``, the import API of the contract, served by Django.
- ``auth``: its shared-secret / HMAC check.
- ``firehose``: per stream a Kinesis-like sequence and a Firehose-like delivery: the real transform
  Lambda handler, buffering by size and time, Firehose's object naming, GZIP and error output.

Everything here lives in the memory of one process: what is buffered and not yet delivered is
lost if that process dies without ``flush()``. Production uses the real services (``infra/``).
"""
