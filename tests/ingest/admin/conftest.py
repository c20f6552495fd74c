"""Fixtures of the admin tests: users with and without the re-import permission."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission


def _staff(django_user_model, username: str, codenames: list[str]):
    user = django_user_model.objects.create_user(username, f"{username}@example.com", "pw-not-used", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["ingest", "website"], codename__in=codenames)
    )
    return user


@pytest.fixture
def viewer(db, django_user_model):
    """Staff who may look at imports and website data but not re-import."""
    return _staff(
        django_user_model,
        "viewer",
        ["view_importfile", "view_importlineerror", "view_unreadablemessage", "view_order", "view_orderline"],
    )


@pytest.fixture
def operator(db, django_user_model):
    """Staff who may look at imports and re-import them."""
    return _staff(django_user_model, "operator", ["view_importfile", "reimport_importfile"])


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def sync_reimport(settings):
    settings.INGEST_ADMIN_REIMPORT_SYNC = True
