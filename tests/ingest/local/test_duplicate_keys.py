"""The local import API answers 400 for a body with a key given twice, naming the key."""

from __future__ import annotations

import pytest

from ingest.local.auth import signed_headers
from tests.transforms.test_duplicate_keys import DUPLICATED, with_duplicate

pytestmark = [pytest.mark.usefixtures("local_firehose"), pytest.mark.django_db]


@pytest.mark.parametrize("where", list(DUPLICATED))
def test_a_duplicate_key_is_a_400_naming_it(client, settings, where):
    body = with_duplicate(where)
    headers = signed_headers(body, settings.INGEST_API_SECRET)
    response = client.post("/v1/orders", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert f"duplicate key '{DUPLICATED[where]}'" in response.json()["message"]


def test_json_nested_too_deeply_is_a_400_not_a_500(client, settings):
    body = b"[" * 200_000 + b"]" * 200_000
    body = body[: 1 << 20]
    headers = signed_headers(body, settings.INGEST_API_SECRET)
    response = client.post("/v1/orders", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 400
