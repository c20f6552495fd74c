"""Fuzzing the admin's changelists with random search, filter, ordering and page parameters.

Property: never a 5xx, whatever a staff user puts in the query string."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.budget import budget, count
from tests.fuzz.strategies import url_text

pytestmark = pytest.mark.django_db

CHANGELISTS = sorted(
    reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") for model in admin.site._registry
)


def parameter_names(url: str) -> list[str]:
    """The filter names a changelist knows (its list_filter fields and lookups), and some it does not."""
    model = next(
        m for m in admin.site._registry if reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist") == url
    )
    model_admin = admin.site._registry[model]
    names = ["q", "o", "p", "all", "_facets", "e", "_to_field", "_popup"]
    for entry in model_admin.list_filter or ():
        field = entry if isinstance(entry, str) else getattr(entry, "parameter_name", None)
        if isinstance(entry, tuple | list):
            field = entry[0]
        if isinstance(field, str):
            names += [field, f"{field}__exact", f"{field}__gte", f"{field}__lt", f"{field}__isnull", f"{field}__in"]
    for field in model._meta.get_fields():
        names.append(f"{field.name}__exact")
    return names


@st.composite
def queries(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    url = draw(st.sampled_from(CHANGELISTS))
    names = parameter_names(url)
    params = {"q": draw(url_text)}
    for _ in range(draw(st.integers(0, 3))):
        params[draw(st.sampled_from(names) | url_text)] = draw(
            url_text | st.sampled_from(["1", "0", "-1", "2026-13-45", "x,y", "True", "99999999999999999999"])
        )
    return url, params


@budget(3)
@given(case=queries())
def test_a_changelist_answers_any_query_without_a_5xx(admin_client, case):
    count("admin: search and filter parameters")
    url, params = case
    response = admin_client.get(url, params)
    assert response.status_code < 500, (url, params)
