"""URLs of the admin website and of the local import API."""

from django.contrib import admin
from django.urls import path

from ingest.local.api import put_event
from ingest.metrics_view import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("v1/<str:stream>", put_event, name="local-import-api"),
    path("metrics", metrics, name="metrics"),
]
