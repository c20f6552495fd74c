"""``manage.py demo``: the whole pipeline in one process, on embedded defaults.

Nothing to install or start: the database is the default SQLite file, AWS is an in-process
moto server (S3 and SQS, with the bucket notifying the queue for the nine stream prefixes, so
notifications are real moto notifications), the Celery broker is kombu's ``memory://`` with a
worker in a thread of this process, and Kinesis → Firehose is ``ingest.local.firehose`` behind
the local import API, served over real HTTP by a thread of this process.

The flow is the production one from the API on: System Two events
(``ingest.testing.event_generator``) are POSTed, signed, to ``/v1/{stream}``; the stand-in
Firehose runs the real transform handler and writes GZIP files to S3; S3 notifies SQS; the real
consumer registers the files and enqueues the real import task; the worker imports them. The
transform starts as a "release v0" that rejects every estimate; after the burst a second
consumer has registered the error output, the fixed transform is deployed and the rejected
records are redriven (``redrive``): the estimates load once, the invalid events stay listed. At
the end the database is compared with the fold of the events (``ingest.testing.oracle``) when the
demo started on empty tables.

Modules: ``run`` (the options and the run), ``aws`` (moto's bucket, queues and notifications,
and this process's settings pointed at them), ``services`` (the embedded Celery worker, the
consumer thread, the HTTP server), ``sending`` (the signed API client and the senders),
``summary`` (what the run did, counted and printed), ``redrive`` (release v0, the failed-records
consumer, the fix-up and redrive step). The demo needs requirements-dev.txt (moto).
"""
