"""Django settings for the admin website and the ingest.

Every setting comes from an environment variable with a safe local default (SQLite,
a local Redis, no AWS account). With DJANGO_ENV=production the secrets and endpoints
are required and a missing one stops the process at start-up.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from botocore.config import Config as BotoConfig
from django.core.exceptions import ImproperlyConfigured

from website.env import (
    PRODUCTION,
    aws_retries,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    require_production_safe,
    require_production_secret,
)

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = env_str(
    "DJANGO_SECRET_KEY", "django-insecure-local-development-key-not-for-production", required_in_production=True
)
DEBUG = env_bool("DJANGO_DEBUG", not PRODUCTION)
require_production_safe(debug=DEBUG, secret_key=SECRET_KEY)
ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"], required_in_production=True
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ingest",
    "website",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "ingest.nul_guard.RefuseNulInQuery",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "website.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "website.wsgi.application"

# --- Database ---------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}", required_in_production=True)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # The consumer and the workers write from several processes: take the write lock at
        # BEGIN so that a transaction never fails half-way with "database is locked".
        "transaction_mode": "IMMEDIATE",
        "timeout": env_float("SQLITE_TIMEOUT_SECONDS", 60.0),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    sqlite_test_name = env_str("SQLITE_TEST_NAME", "")
    if sqlite_test_name:
        DATABASES["default"]["TEST"] = {"NAME": sqlite_test_name}
elif DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 10))
    # libpq TCP keepalives: a database host that vanished without closing the connection is noticed
    # in about idle + interval * count seconds, not after the kernel's two hours. (The reverse case,
    # an importer's machine gone, is bounded by the server's tcp_keepalives_*: docs/operations.md.)
    DATABASES["default"]["OPTIONS"].setdefault("keepalives", 1)
    DATABASES["default"]["OPTIONS"].setdefault("keepalives_idle", env_int("DATABASE_KEEPALIVES_IDLE", 10))
    DATABASES["default"]["OPTIONS"].setdefault("keepalives_interval", env_int("DATABASE_KEEPALIVES_INTERVAL", 5))
    DATABASES["default"]["OPTIONS"].setdefault("keepalives_count", env_int("DATABASE_KEEPALIVES_COUNT", 3))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

# --- HTTPS (production defaults; `manage.py check --deploy` is clean with them) ---------------
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
# The imports list's index carries the id (INCLUDE) for PostgreSQL's index-only scans; SQLite,
# the local default, builds it without, which is all a development database needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
if not SECURE_HSTS_PRELOAD:
    # Preloading is a submission to the browsers' lists that cannot be taken back quickly: an
    # owner of the domain opts in (DJANGO_SECURE_HSTS_PRELOAD=true); --deploy need not nag.
    SILENCED_SYSTEM_CHECKS += ["security.W021"]
# Behind a TLS-terminating proxy (a load balancer) Django sees plain HTTP: it trusts the proxy's
# X-Forwarded-Proto header, which the proxy must set (overwriting the client's). "none" turns
# it off for a server that terminates TLS itself.
_proxy_ssl_header = env_str("DJANGO_SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto" if PRODUCTION else "none")
SECURE_PROXY_SSL_HEADER = (
    None
    if _proxy_ssl_header.strip().lower() in {"", "none", "off"}
    else ("HTTP_" + _proxy_ssl_header.strip().upper().replace("-", "_"), "https")
)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- AWS ----------------------------------------------------------------------------------
AWS_REGION = env_str("AWS_REGION", env_str("AWS_DEFAULT_REGION", "us-east-1"))
# Set for a local or mocked AWS (moto); empty means the real AWS endpoints.
AWS_ENDPOINT_URL = env_str("AWS_ENDPOINT_URL", "") or None
AWS_CONNECT_TIMEOUT = env_float("AWS_CONNECT_TIMEOUT", 5.0)
AWS_READ_TIMEOUT = env_float("AWS_READ_TIMEOUT", 30.0)
# All attempts of one call, the first included (the AWS SDKs' meaning; website/env.py aws_retries).
AWS_MAX_ATTEMPTS = env_int("AWS_MAX_ATTEMPTS", 5)

INGEST_BUCKET = env_str("INGEST_BUCKET", "erp-ingest-local", required_in_production=True)
INGEST_QUEUE_URL = env_str("INGEST_QUEUE_URL", "", required_in_production=True)
# django-storages reads the objects; botocore's timeouts and retries bound every call.
INGEST_BOTO_CONFIG = BotoConfig(
    region_name=AWS_REGION,
    connect_timeout=AWS_CONNECT_TIMEOUT,
    read_timeout=AWS_READ_TIMEOUT,
    retries=aws_retries(AWS_MAX_ATTEMPTS),
)

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "ingest": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": INGEST_BUCKET,
            "region_name": AWS_REGION,
            "endpoint_url": AWS_ENDPOINT_URL,
            "client_config": INGEST_BOTO_CONFIG,
            "file_overwrite": False,
            "querystring_auth": False,
        },
    },
}

# --- Ingest -------------------------------------------------------------------------------
# Rows per INSERT ... ON CONFLICT statement.
INGEST_BATCH_SIZE = env_int("INGEST_BATCH_SIZE", 10000)
# A worker imports up to this many small ready files of one stream in one transaction (a backfill's
# many small files; ingest/services/importing/batch_run.py); 1 turns it off. Files above
# INGEST_IMPORT_BATCH_MAX_BYTES (as stored, GZIP or not) are imported alone, streamed.
INGEST_IMPORT_BATCH_FILES = env_int("INGEST_IMPORT_BATCH_FILES", 20)
INGEST_IMPORT_BATCH_MAX_BYTES = env_int("INGEST_IMPORT_BATCH_MAX_BYTES", 1 << 20)
# ... and at most about this many bytes of lines (a batch ends at the line that reaches it): a batch
# of wide lines (each under INGEST_MAX_LINE_BYTES) would otherwise hold hundreds of MB in a worker.
INGEST_BATCH_MAX_BYTES = env_int("INGEST_BATCH_MAX_BYTES", 2 << 20)
# On PostgreSQL a file of at least this many stored bytes (GZIP or not) is parsed in a second
# process, beside the one that loads it (ingest/services/importing/parse_process.py); -1: never.
INGEST_PARSE_PROCESS_MIN_BYTES = env_int("INGEST_PARSE_PROCESS_MIN_BYTES", 1 << 20)
# A line longer than this is cut off while streaming and recorded as a line error (an excerpt and
# its length): one endless line, a GZIP bomb of zeros say, must not take the worker's memory.
INGEST_MAX_LINE_BYTES = env_int("INGEST_MAX_LINE_BYTES", 1 << 20)
# The same for a line of Firehose's error output (errors/): one record, whose rawData is the base64
# of up to 1,000 KiB; a longer line is registered as one record with its excerpt and length.
INGEST_MAX_ERROR_LINE_BYTES = env_int("INGEST_MAX_ERROR_LINE_BYTES", 2 << 20)
# A stream with no import for longer than this is flagged stale on the freshness dashboard.
INGEST_STALE_AFTER_SECONDS = env_int("INGEST_STALE_AFTER_SECONDS", 3600)
# A snapshot that lands in the bucket (snapshots/{stream}/) is always reported; its missing and
# behind keys are also repaired from its full rows while this is on. Content and deletes: never
# without an operator.
INGEST_RECONCILE_AUTO_REPAIR = env_bool("INGEST_RECONCILE_AUTO_REPAIR", True)
# The admin's "Re-import" imports inside the request instead of enqueueing a task (tests, a local run
# without a worker); production leaves it off.
INGEST_ADMIN_REIMPORT_SYNC = env_bool("INGEST_ADMIN_REIMPORT_SYNC", False)

# --- Retention (ingest/services/retention/prune.py; the table in docs/operations.md) ---------------
# Days each kind of record is kept; 0 keeps it forever. Pruning runs from the consumer's sweep at
# most every INGEST_PRUNE_INTERVAL_SECONDS, in batches of INGEST_PRUNE_BATCH_SIZE rows (one short
# transaction each), and on demand with `manage.py prune`. A pruned import file leaves its ledger
# entry (exactly once never forgets) and its hours in the aggregates.
INGEST_RETAIN_ATTEMPTS_DAYS = env_int("INGEST_RETAIN_ATTEMPTS_DAYS", 30)
INGEST_RETAIN_LINE_ERRORS_DAYS = env_int("INGEST_RETAIN_LINE_ERRORS_DAYS", 30)
INGEST_RETAIN_RAW_EXCERPTS_DAYS = env_int("INGEST_RETAIN_RAW_EXCERPTS_DAYS", 30)
INGEST_RETAIN_DELIVERED_CHANGES_DAYS = env_int("INGEST_RETAIN_DELIVERED_CHANGES_DAYS", 30)
INGEST_RETAIN_IMPORT_FILES_DAYS = env_int("INGEST_RETAIN_IMPORT_FILES_DAYS", 90)
INGEST_RETAIN_REJECTED_DAYS = env_int("INGEST_RETAIN_REJECTED_DAYS", 90)
INGEST_RETAIN_HOURLY_STATS_DAYS = env_int("INGEST_RETAIN_HOURLY_STATS_DAYS", 730)
INGEST_RETAIN_DAILY_STATS_DAYS = env_int("INGEST_RETAIN_DAILY_STATS_DAYS", 0)
INGEST_PRUNE_INTERVAL_SECONDS = env_float("INGEST_PRUNE_INTERVAL_SECONDS", 300.0)
INGEST_PRUNE_BATCH_SIZE = env_int("INGEST_PRUNE_BATCH_SIZE", 500)
# Seconds the pruner sleeps between batches, so that importers get the disk and the locks.
INGEST_PRUNE_PAUSE_SECONDS = env_float("INGEST_PRUNE_PAUSE_SECONDS", 0.05)

# --- The local import API and Kinesis/Firehose stand-in (development and `manage.py demo`) ---
# POST /v1/{stream} served by Django; production uses API Gateway → Kinesis → Firehose instead,
# and without this setting the route does not exist (website/urls.py).
INGEST_LOCAL_API_ENABLED = env_bool("INGEST_LOCAL_API_ENABLED", not PRODUCTION)
# Shared secret of the local import API (HMAC-SHA256 of "{timestamp}.{body}"); required in
# production if the local API is turned on there.
INGEST_API_SECRET = env_str(
    "INGEST_API_SECRET", "local-development-secret", required_in_production=INGEST_LOCAL_API_ENABLED
)
if INGEST_LOCAL_API_ENABLED:
    require_production_secret("INGEST_API_SECRET", INGEST_API_SECRET, because="the local import API is enabled")
# A signed request is accepted while its X-Signature-Timestamp is at most this far from the
# clock (either way), and only once (the replay cache keeps its signature that long).
INGEST_API_SIGNATURE_TOLERANCE_SECONDS = env_float("INGEST_API_SIGNATURE_TOLERANCE_SECONDS", 300.0)
# False lets invalid events into the stream (the transform then sends them to the error output).
INGEST_LOCAL_API_VALIDATE = env_bool("INGEST_LOCAL_API_VALIDATE", True)
# The "{env}" of the delivery streams' names "{env}-{stream}" (and so of the S3 object names).
INGEST_ENV = env_str("INGEST_ENV", "local")
# Firehose buffering hints of the stand-in: a file when this many bytes or seconds are buffered.
INGEST_LOCAL_BUFFER_BYTES = env_int("INGEST_LOCAL_BUFFER_BYTES", 1 << 20)
INGEST_LOCAL_BUFFER_SECONDS = env_float("INGEST_LOCAL_BUFFER_SECONDS", 1.0)
INGEST_LOCAL_LAMBDA_RETRIES = env_int("INGEST_LOCAL_LAMBDA_RETRIES", 3)

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0", required_in_production=True)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# An import is acknowledged only once it has finished, and a worker that dies mid-import
# (OOM, SIGKILL) gives its message back: the import's one transaction rolled back with it.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One import at a time per worker process: a long file must not hold back prefetched short ones.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A soft limit lets the import roll back and record the failure; the hard one kills the child.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 1500)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 1800)
# Retries of an import that failed for a transient reason: exponential backoff with full jitter.
INGEST_TASK_MAX_RETRIES = env_int("INGEST_TASK_MAX_RETRIES", 8)
INGEST_RETRY_BACKOFF_SECONDS = env_float("INGEST_RETRY_BACKOFF_SECONDS", 2.0)
INGEST_RETRY_BACKOFF_MAX_SECONDS = env_float("INGEST_RETRY_BACKOFF_MAX_SECONDS", 300.0)
# Another worker holds the file's lock: look again after this long (it is usually done by then).
INGEST_BUSY_RETRY_SECONDS = env_float("INGEST_BUSY_RETRY_SECONDS", 5.0)
INGEST_BUSY_MAX_RETRIES = env_int("INGEST_BUSY_MAX_RETRIES", 720)
# Redis has no redelivery limit of its own: a file whose import keeps killing its worker is
# marked failed after this many lost deliveries instead of looping for ever.
INGEST_MAX_REDELIVERIES = env_int("INGEST_MAX_REDELIVERIES", 5)
# Redis redelivers a message that is not acknowledged within the visibility timeout, so it must
# exceed the longest import plus the longest retry countdown (a retry waits, unacked, in a worker).
INGEST_VISIBILITY_TIMEOUT_SECONDS = env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": INGEST_VISIBILITY_TIMEOUT_SECONDS,
    "socket_connect_timeout": env_float("CELERY_BROKER_SOCKET_CONNECT_TIMEOUT", 5.0),
    "socket_timeout": env_float("CELERY_BROKER_SOCKET_TIMEOUT", 10.0),
    "socket_keepalive": True,
    "retry_on_timeout": True,
    "health_check_interval": 25,
}
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 5.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Publishing (the consumer ringing the task) gives up after ~1 s: the file stays pending in
# the database and the consumer's sweep enqueues it again once the broker is back.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
# An import that is running when the broker connection drops still commits: its rows are the
# truth, and the lost acknowledgement only causes a redelivery that finds the file imported.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes every database connection before and after each task unless
# this is set (then only every N tasks), which made DATABASE_CONN_MAX_AGE a dead letter in
# workers: a new PostgreSQL connection per file cost a small file more than its import's
# statements. With it, website/celery.py applies Django's own rule around each task
# (close_old_connections: DATABASE_CONN_MAX_AGE, and a connection that failed is replaced).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)

# --- The event consumer (manage.py consume_events) -----------------------------------------
# SQS long poll: returns as soon as a message arrives; a SIGTERM waits at most this long.
INGEST_CONSUMER_WAIT_SECONDS = env_int("INGEST_CONSUMER_WAIT_SECONDS", 10)
# The database is the source of truth and the broker only a task: every this often the
# consumer enqueues again pending files whose task was lost (broker restarted, publish failed)...
INGEST_SWEEP_INTERVAL_SECONDS = env_float("INGEST_SWEEP_INTERVAL_SECONDS", 30.0)
INGEST_REQUEUE_AFTER_SECONDS = env_float("INGEST_REQUEUE_AFTER_SECONDS", 600.0)
# ... and running files that nobody is importing. On PostgreSQL the importer's row lock tells:
# the consumer looks every INGEST_ORPHAN_CHECK_SECONDS (one cheap query). SQLite cannot see
# another process's locks: there a running file is abandoned after this long (and the time limit).
INGEST_ABANDONED_AFTER_SECONDS = env_float("INGEST_ABANDONED_AFTER_SECONDS", 120.0)
INGEST_ORPHAN_CHECK_SECONDS = env_float("INGEST_ORPHAN_CHECK_SECONDS", 2.0)
# SQS or the database unreachable: the consumer retries with exponential backoff up to this.
INGEST_CONSUMER_BACKOFF_MAX_SECONDS = env_float("INGEST_CONSUMER_BACKOFF_MAX_SECONDS", 5.0)
# Tests only: stop the process at a named crash point (ingest/services/intake/crash_points.py).
INGEST_CRASH_POINTS_ENABLED = env_bool("INGEST_TEST_CRASH_POINTS", False)
INGEST_CRASH_POINT = env_str("INGEST_CRASH_POINT", "")
if PRODUCTION and INGEST_CRASH_POINTS_ENABLED:
    raise ImproperlyConfigured("INGEST_TEST_CRASH_POINTS is for tests; it cannot be on with DJANGO_ENV=production")

# --- Operators: Prometheus metrics at /metrics (docs/operations.md) --------------------------
# Off unless enabled. A scraper sends "Authorization: Bearer <INGEST_METRICS_TOKEN>"; a staff
# user logged in to the admin may look too. Production refuses to start enabled without a token.
INGEST_METRICS_ENABLED = env_bool("INGEST_METRICS_ENABLED", False)
INGEST_METRICS_TOKEN = env_str("INGEST_METRICS_TOKEN", "")
if PRODUCTION and INGEST_METRICS_ENABLED and not INGEST_METRICS_TOKEN:
    raise ImproperlyConfigured("INGEST_METRICS_TOKEN must be set when INGEST_METRICS_ENABLED in production")
if INGEST_METRICS_ENABLED:
    require_production_secret("INGEST_METRICS_TOKEN", INGEST_METRICS_TOKEN, because="INGEST_METRICS_ENABLED")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "werkzeug": {"level": "WARNING"},
    },
}
