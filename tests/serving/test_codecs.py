import json

import numpy as np
import pytest

from mfrec.serving import codecs
from mfrec.serving.codecs import BadRequest, NotAcceptable, PairsRequest, TopKRequest, UnsupportedMediaType
from mfrec.serving.predictor import CUSTOMER_BIAS, MODEL, PairScores, Ranking


def decode_json(document, content_type="application/json"):
    return codecs.decode(json.dumps(document).encode(), content_type)


def test_pairs_request_with_string_and_numeric_ids():
    decoded = decode_json({"customer_id": ["a", 12, 7.0], "product_id": ["x", "y", 3]})
    assert decoded.framing == codecs.JSON
    assert decoded.requests == (PairsRequest(("a", "12", "7"), ("x", "y", "3")),)


def test_pairs_request_repeats_a_scalar_side():
    (request,) = decode_json({"customer_id": "a", "product_id": ["x", "y"], "details": True, "strict": False}).requests
    assert request == PairsRequest(("a", "a"), ("x", "y"), details=True, strict=False)


def test_recommend_and_similar_requests():
    (recommend,) = decode_json({"customer_id": "a", "top_k": 3, "include_reviewed": True}).requests
    assert recommend == TopKRequest("recommend", ("a",), single=True, top_k=3, include_reviewed=True)
    (similar,) = decode_json({"product_id": [1, "2"]}).requests
    assert similar == TopKRequest("similar", ("1", "2"), single=False, top_k=codecs.DEFAULT_TOP_K)


def test_content_type_parameters_and_missing_type_mean_json():
    assert decode_json({"customer_id": "a"}, "Application/JSON; charset=utf-8").requests[0].kind == "recommend"
    assert decode_json({"customer_id": "a"}, None).requests[0].kind == "recommend"


@pytest.mark.parametrize("document, message", [
    ({"customer_id": [True], "product_id": ["x"]}, "boolean"),
    ({"customer_id": [None], "product_id": ["x"]}, "null"),
    ({"customer_id": [{"a": 1}], "product_id": ["x"]}, "object"),
    ({"customer_id": [["a"]], "product_id": ["x"]}, "list"),
    ({"customer_id": [1.5], "product_id": ["x"]}, "whole number"),
    ({"customer_id": ["a", "b"], "product_id": ["x"]}, "2 ids but product_id has 1"),
    ({"customer_id": [], "product_id": []}, "empty"),
    ({}, "empty request"),
    ({"top_k": 3}, "needs customer_id"),
    ({"customer_id": "a", "product_id": "x", "top_k": 3}, "unexpected field"),
    ({"product_id": "x", "include_reviewed": True}, "unexpected field"),
    ({"customer_id": "a", "top_k": 0}, "top_k"),
    ({"customer_id": "a", "top_k": True}, "top_k"),
    ({"customer_id": "a", "top_k": "5"}, "top_k"),
    ({"customer_id": "a", "strict": "yes"}, "strict must be true or false"),
    ([{"customer_id": "a"}], "must be a JSON object"),
    ("a", "must be a JSON object"),
])
def test_bad_json_requests_say_what_is_wrong(document, message):
    with pytest.raises(BadRequest, match=message):
        decode_json(document)


@pytest.mark.parametrize("body, message", [
    (b"", "empty request body"),
    (b"   \n", "empty request body"),
    (b'{"customer_id": ', "malformed JSON"),
    (b'{"customer_id": NaN}', "malformed JSON"),
    (b'{"customer_id": 1e999}', "malformed JSON"),
    (b'{"customer_id": ' + b"9" * 5000 + b"}", "malformed JSON"),
    (b"\xff\xfe\x00garbage", "UTF|malformed"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|malformed"),
])
def test_malformed_bodies_are_bad_requests(body, message):
    with pytest.raises(BadRequest, match=message):
        codecs.decode(body, "application/json")


def test_unsupported_content_type():
    with pytest.raises(UnsupportedMediaType, match="application/octet-stream"):
        codecs.decode(b"{}", "application/octet-stream")


def test_csv_with_and_without_header():
    with_header = codecs.decode(b"customer_id,product_id\r\na, 12\nb,x\n", "text/csv")
    without = codecs.decode(b"a,12\nb,x", "text/csv")
    assert with_header.requests == without.requests == (PairsRequest(("a", "b"), ("12", "x")),)
    assert without.framing == codecs.CSV


@pytest.mark.parametrize("body, message", [
    (b"customer_id,product_id\n", "no customer_id,product_id rows"),
    (b"a,b,c\n", "row 1 has 3 fields"),
    (b"a,b\nc\n", "row 2 has 1 fields"),
    (b"\xff,\xfe", "not UTF-8"),
])
def test_bad_csv(body, message):
    with pytest.raises(BadRequest, match=message):
        codecs.decode(body, "text/csv")


def test_jsonlines_is_one_request_per_line_and_errors_name_the_line():
    decoded = codecs.decode(b'{"customer_id": "a"}\n{"product_id": "x", "top_k": 2}\n', "application/jsonlines")
    assert [r.kind for r in decoded.requests] == ["recommend", "similar"]
    with pytest.raises(BadRequest, match="line 2: malformed JSON"):
        codecs.decode(b'{"customer_id": "a"}\n{oops\n', "application/jsonlines")
    with pytest.raises(BadRequest, match="line 2: empty"):
        codecs.decode(b'{"customer_id": "a"}\n\n{"customer_id": "b"}', "application/jsonlines")


@pytest.mark.parametrize("header, expected", [
    (None, codecs.JSON), ("", codecs.JSON), ("*/*", codecs.JSON),
    ("text/csv", codecs.CSV), ("application/jsonlines;q=0.9", codecs.JSONLINES),
    ("image/png, application/json", codecs.JSON), ("text/html, */*;q=0.1", codecs.JSON),
])
def test_choose_accept(header, expected):
    assert codecs.choose_accept(header) == expected


def test_unsupported_accept_is_not_acceptable():
    with pytest.raises(NotAcceptable):
        codecs.choose_accept("image/png")


SCORES = PairScores(np.array([4.1234567, 2.0]), np.array([MODEL, CUSTOMER_BIAS], dtype=np.int8), (), ("y",))
RANKING = Ranking("a", True, ["x", "y"], ["X", "Y"], np.array([4.5, 4.25]))


def test_encode_pairs_as_bare_list_details_csv_and_lines():
    decoded = decode_json({"customer_id": ["a", "a"], "product_id": ["x", "y"]})
    assert codecs.encode(decoded, [SCORES], codecs.JSON) == (b"[4.123457,2.0]", codecs.JSON)
    assert codecs.encode(decoded, [SCORES], codecs.CSV) == (b"4.123457\n2.0\n", codecs.CSV)
    assert codecs.encode(decoded, [SCORES], codecs.JSONLINES) == (b"[4.123457,2.0]\n", codecs.JSONLINES)
    detailed = decode_json({"customer_id": ["a", "a"], "product_id": ["x", "y"], "details": True})
    body, _ = codecs.encode(detailed, [SCORES], codecs.JSON)
    assert json.loads(body) == {
        "predictions": [4.123457, 2.0], "unknown": [False, True], "fallback": [None, "customer_bias"],
    }


def test_encode_csv_input_as_jsonlines_gives_one_line_per_row():
    decoded = codecs.decode(b"a,x\na,y\n", "text/csv")
    assert codecs.encode(decoded, [SCORES], codecs.JSONLINES)[0] == b"4.123457\n2.0\n"


def test_encode_rankings_single_and_list():
    single = decode_json({"customer_id": "a", "top_k": 2})
    body, _ = codecs.encode(single, [[RANKING]], codecs.JSON)
    assert json.loads(body) == {
        "customer_id": "a", "unknown": False, "fallback": None,
        "recommendations": [
            {"product_id": "x", "title": "X", "predicted_rating": 4.5},
            {"product_id": "y", "title": "Y", "predicted_rating": 4.25},
        ],
    }
    listed = decode_json({"product_id": ["a"], "top_k": 2})
    (document,) = json.loads(codecs.encode(listed, [[RANKING]], codecs.JSON)[0])
    assert document["product_id"] == "a" and document["similar"][1]["similarity"] == 4.25


def test_rankings_cannot_be_csv():
    with pytest.raises(NotAcceptable, match="ratings requests"):
        codecs.encode(decode_json({"customer_id": "a"}), [[RANKING]], codecs.CSV)
