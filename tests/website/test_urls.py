"""The local import API's routes exist only when INGEST_LOCAL_API_ENABLED is on."""

from __future__ import annotations

import importlib

import pytest
from django.urls import Resolver404, clear_url_caches, resolve

import website.urls


@pytest.fixture
def reload_urls(settings):
    def reload(enabled: bool) -> None:
        settings.INGEST_LOCAL_API_ENABLED = enabled
        importlib.reload(website.urls)
        clear_url_caches()

    yield reload
    settings.INGEST_LOCAL_API_ENABLED = True
    importlib.reload(website.urls)
    clear_url_caches()


def test_with_the_local_api_off_there_is_no_v1_route(client, reload_urls):
    reload_urls(False)
    with pytest.raises(Resolver404):
        resolve("/v1/orders")
    with pytest.raises(Resolver404):
        resolve("/v1/openapi.json")
    assert client.post("/v1/orders", data=b"{}", content_type="application/json").status_code == 404
    assert client.get("/v1/openapi.json").status_code == 404
    assert resolve("/admin/").url_name == "index"


def test_with_the_local_api_on_the_routes_exist(reload_urls):
    reload_urls(True)
    assert resolve("/v1/orders").url_name == "local-import-api"
    assert resolve("/v1/openapi.json").url_name == "local-import-api-openapi"
