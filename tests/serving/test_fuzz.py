"""Thousands of random and malformed requests: never a 5xx, errors are JSON, /ping keeps answering."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .tiny_model import CUSTOMERS, PRODUCTS

FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FIELDS = ["customer_id", "product_id", "top_k", "include_reviewed", "details", "strict"]
CONTENT_TYPES = st.sampled_from([
    "application/json", "application/jsonlines", "text/csv", "text/csv; charset=utf-8", "APPLICATION/JSON",
    "application/octet-stream", "text/plain", "", "multipart/form-data", "application/x-www-form-urlencoded",
]) | st.text(max_size=30)
ACCEPTS = st.none() | st.sampled_from([
    "*/*", "application/json", "text/csv", "application/jsonlines", "text/*", "image/png", "application/json;q=0.5, */*",
]) | st.text(max_size=30)

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
known_ids = st.sampled_from(CUSTOMERS + PRODUCTS + [100, 107.0, -1, 0])
json_values = st.recursive(scalars | known_ids, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=12)
field_values = known_ids | scalars | st.lists(known_ids | scalars, max_size=8) | json_values
requests = st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=4)


def safe_header(text):
    return "".join(ch for ch in text if 32 <= ord(ch) < 127)


def check(client, body, content_type, accept):
    headers = {"Content-Type": safe_header(content_type)}
    if accept is not None:
        headers["Accept"] = safe_header(accept)
    response = client.post("/invocations", data=body, headers=headers)
    assert response.status_code < 500, response.data
    if response.status_code != 200:
        assert "error" in json.loads(response.data)


@FUZZ
@given(body=st.binary(max_size=300), content_type=CONTENT_TYPES, accept=ACCEPTS)
def test_random_bytes(client, body, content_type, accept):
    check(client, body, content_type, accept)


@FUZZ
@given(document=requests | json_values, content_type=CONTENT_TYPES, accept=ACCEPTS)
def test_random_json_shapes(client, document, content_type, accept):
    check(client, json.dumps(document).encode(), content_type, accept)


@FUZZ
@given(lines=st.lists(requests | json_values, min_size=1, max_size=5), accept=ACCEPTS)
def test_random_jsonlines(client, lines, accept):
    body = "\n".join(json.dumps(line) for line in lines).encode()
    check(client, body, "application/jsonlines", accept)


@FUZZ
@given(rows=st.lists(st.lists(st.text(max_size=6) | known_ids.map(str), max_size=3), max_size=6), accept=ACCEPTS)
def test_random_csv(client, rows, accept):
    body = "\n".join(",".join(row) for row in rows).encode()
    check(client, body, "text/csv", accept)


def test_ping_still_answers_after_the_fuzzing(client):
    assert client.get("/ping").status_code == 200
