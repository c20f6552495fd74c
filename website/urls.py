"""URLs of the admin website and, when ``INGEST_LOCAL_API_ENABLED`` is on (development, the demo),
of the local import API. Production serves the import API from API Gateway: there the route
does not exist at all, rather than existing and answering 404."""

from django.conf import settings
from django.contrib import admin
from django.urls import path

from ingest.views import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", metrics, name="metrics"),
]

if settings.INGEST_LOCAL_API_ENABLED:
    from ingest.local.api import openapi_document, put_event

    urlpatterns += [
        path("v1/openapi.json", openapi_document, name="local-import-api-openapi"),
        path("v1/<str:stream>", put_event, name="local-import-api"),
    ]
