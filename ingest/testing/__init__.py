"""The development harness shared by the demo, the tests and the benchmarks; never imported by
the pipeline itself (it needs requirements-dev.txt: moto, psutil).

``event_generator`` makes realistic System Two events, ``oracle`` folds them into the state the
contract promises, ``comparator`` tells how the database differs from it; ``samples`` holds
hand-made events and Firehose-shaped files, ``aws`` moto and the bucket/queue of ``infra/``,
``fixtures`` the pytest fixtures of moto (a plugin tests/conftest.py loads), ``imports``
registering and importing a local file in this process, ``failed_records`` Firehose's error
output from the local stand-in, ``processes`` the worker, consumer and Redis processes of
end-to-end runs, ``pipeline`` one end-to-end run's resources and processes, ``database`` (table
resets, a lock held by "another worker", the probe of an import transaction that has written)
and ``utilities`` the rest.
"""
