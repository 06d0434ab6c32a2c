import json

import pytest

from mfrec.serving.app import Limits, create_app
from .tiny_model import CUSTOMERS, PRODUCTS, REVIEWED


def post(client, body, content_type="application/json", accept=None):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers = {"Accept": accept} if accept else {}
    return client.post("/invocations", data=data, content_type=content_type, headers=headers)


def test_ping(client):
    response = client.get("/ping")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_execution_parameters_match_the_limits(client):
    assert client.get("/execution-parameters").json == {
        "MaxConcurrentTransforms": 3, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 1,
    }


def test_pairs_return_a_bare_list_in_request_order(client, tiny_predictor):
    customers, products = ["c0", "c3", "c1"], ["107", 101, "100"]
    response = post(client, {"customer_id": customers, "product_id": products})
    assert response.status_code == 200 and response.content_type == "application/json"
    expected = tiny_predictor.score_pairs(customers, ["107", "101", "100"]).ratings
    assert response.json == pytest.approx(expected.tolist(), abs=1e-6)
    assert all(1.0 <= value <= 5.0 for value in response.json)


def test_pairs_details_flag_unknown_ids(client):
    response = post(client, {"customer_id": ["c0", "new", "c0"], "product_id": ["100", "101", "nope"], "details": True})
    assert response.json["unknown"] == [False, True, True]
    assert response.json["fallback"] == [None, "product_mean", "customer_bias"]
    assert len(response.json["predictions"]) == 3


def test_strict_request_refuses_unknown_ids(client):
    response = post(client, {"customer_id": ["c0", "new"], "product_id": ["100", "nope"], "strict": True})
    assert response.status_code == 422
    assert "unknown customer_id(s): 'new'" in response.json["error"]
    assert "unknown product_id(s): 'nope'" in response.json["error"]


def test_strict_server_option_can_be_relaxed_per_request(tiny_predictor):
    client = create_app(tiny_predictor, Limits(strict_unknown=True)).test_client()
    assert post(client, {"customer_id": ["new"], "product_id": ["100"]}).status_code == 422
    assert post(client, {"customer_id": "new", "top_k": 2}).status_code == 422
    assert post(client, {"customer_id": ["new"], "product_id": ["100"], "strict": False}).status_code == 200


def test_recommendations_exclude_reviewed_products(client):
    response = post(client, {"customer_id": "c3", "top_k": 6})
    document = response.json
    assert response.status_code == 200 and document["customer_id"] == "c3" and not document["unknown"]
    recommended = [item["product_id"] for item in document["recommendations"]]
    assert len(recommended) == len(PRODUCTS) - len(REVIEWED[3])
    assert not set(recommended) & {PRODUCTS[i] for i in REVIEWED[3]}
    ratings = [item["predicted_rating"] for item in document["recommendations"]]
    assert ratings == sorted(ratings, reverse=True)
    assert document["recommendations"][0]["title"] == f"Product {recommended[0]}"


def test_recommendations_can_include_reviewed_and_list_customers(client):
    response = post(client, {"customer_id": ["c3", "stranger"], "top_k": 6, "include_reviewed": True})
    known, unknown = response.json
    assert len(known["recommendations"]) == 6
    assert unknown["unknown"] is True and unknown["fallback"] == "popular"


def test_similar_products(client):
    response = post(client, {"product_id": 100, "top_k": 3})
    similar = response.json["similar"]
    assert response.json["product_id"] == "100" and len(similar) == 3
    assert "100" not in [item["product_id"] for item in similar]
    assert all(-1.0 <= item["similarity"] <= 1.0 for item in similar)


def test_csv_in_csv_or_json_out(client):
    body = "customer_id,product_id\nc0,100\nc1,101\n"
    as_csv = post(client, body, "text/csv", accept="text/csv")
    assert as_csv.content_type == "text/csv" and len(as_csv.data.decode().splitlines()) == 2
    as_json = post(client, body, "text/csv")
    assert [float(line) for line in as_csv.data.decode().splitlines()] == as_json.json


def test_jsonlines_gives_one_output_line_per_input_line(client):
    lines = [{"customer_id": ["c0"], "product_id": ["100"]}, {"customer_id": "c1", "top_k": 2}, {"product_id": "101", "top_k": 1}]
    body = "\n".join(json.dumps(line) for line in lines) + "\n"
    response = post(client, body, "application/jsonlines", accept="application/jsonlines")
    assert response.content_type == "application/jsonlines"
    outputs = [json.loads(line) for line in response.data.decode().splitlines()]
    assert len(outputs) == 3 and len(outputs[0]) == 1
    assert len(outputs[1]["recommendations"]) == 2 and len(outputs[2]["similar"]) == 1
    as_json = post(client, body, "application/jsonlines")
    assert as_json.json == outputs


@pytest.mark.parametrize("body, content_type, accept, status, message", [
    ("{oops", "application/json", None, 400, "malformed JSON"),
    ({"customer_id": [True], "product_id": ["100"]}, "application/json", None, 400, "boolean"),
    ({"customer_id": ["c0", "c1"], "product_id": ["100"]}, "application/json", None, 400, "pair up"),
    ({}, "application/json", None, 400, "empty request"),
    ({"customer_id": ["c0"] * 51, "product_id": ["100"] * 51}, "application/json", None, 400, "too many pairs: 51"),
    ({"customer_id": CUSTOMERS, "top_k": 2}, "application/json", None, 400, "too many ids for top-k: 6"),
    ({"customer_id": "c0", "top_k": 7}, "application/json", None, 400, "top_k 7 is over the limit 6"),
    ("c0,100", "application/x-www-form-urlencoded", None, 415, "not supported"),
    ({"customer_id": "c0"}, "application/json", "image/png", 406, "cannot answer"),
    ({"customer_id": "c0", "top_k": 2}, "application/json", "text/csv", 406, "only for ratings"),
])
def test_bad_requests_get_json_errors(client, body, content_type, accept, status, message):
    response = post(client, body, content_type, accept)
    assert response.status_code == status
    assert response.content_type == "application/json"
    assert message in response.json["error"]


def test_body_over_the_payload_limit_is_413(client):
    response = post(client, b"c0,100\n" * 200_000, "text/csv")
    assert response.status_code == 413 and "error" in response.json


def test_unknown_route_and_wrong_method_are_json_errors(client):
    assert client.get("/nope").status_code == 404 and "error" in client.get("/nope").json
    response = client.get("/invocations")
    assert response.status_code == 405 and "error" in response.json
