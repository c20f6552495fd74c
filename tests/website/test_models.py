"""The website models carry exactly the contract's fields, named in snake_case."""

from __future__ import annotations

import pytest
from django.db import models

from transforms.streams import STREAMS, snake_case
from website.models import MODELS_BY_STREAM

SOURCE_FIELDS = {
    "id",
    "source_version",
    "source_event_id",
    "source_occurred_at",
    "is_deleted",
    "is_placeholder",
    "source_extras",
}


@pytest.mark.parametrize("stream", list(STREAMS))
def test_model_fields_follow_the_contract(stream):
    spec = STREAMS[stream]
    model = MODELS_BY_STREAM[stream]
    assert model.__name__ == spec.model
    attnames = {f.attname for f in model._meta.concrete_fields}
    expected = {attname for _path, attname, _spec in spec.columns()} | SOURCE_FIELDS | {"last_import_id"}
    if stream == "orders":
        expected |= {"quote_number", "quote_version"}
    assert attnames == expected
    for path, attname, field_spec in spec.columns():
        field = next(f for f in model._meta.concrete_fields if f.attname == attname)
        if field_spec.references is not None:
            assert isinstance(field, models.ForeignKey)
            assert field.name == field_spec.references.relation
            target = MODELS_BY_STREAM[field_spec.references.stream]
            assert field.related_model is target
            assert field.target_field.name == snake_case(STREAMS[field_spec.references.stream].key[0].name)
        elif len(path) == 2:
            assert attname == f"billing_{snake_case(path[1])}"
        else:
            assert attname == snake_case(path[0])
        kind = {
            "money": models.DecimalField,
            "decimal": models.DecimalField,
            "date": models.DateField,
            "timestamp": models.DateTimeField,
            "string_list": models.JSONField,
            "bool": models.BooleanField,
            "int": models.BigIntegerField,
        }.get(field_spec.type)
        if kind is not None:
            assert isinstance(field, kind), (attname, type(field))
            if kind is models.DateField:
                assert not isinstance(field, models.DateTimeField)


def test_customer_billing_address_is_flattened():
    names = {f.name for f in MODELS_BY_STREAM["customers"]._meta.fields}
    assert {
        "billing_line1",
        "billing_line2",
        "billing_city",
        "billing_region",
        "billing_postal_code",
        "billing_country_code",
    } <= names
