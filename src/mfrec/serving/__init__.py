"""Model serving: `serve` runs gunicorn over a Flask app that scores with numpy only.

HTTP API
--------
GET  /ping                  200 {"status": "ok"} once the model is loaded (it is, before workers start).
GET  /execution-parameters  {"MaxConcurrentTransforms": workers, "BatchStrategy": "MULTI_RECORD",
                             "MaxPayloadInMB": SAGEMAKER_MAX_PAYLOAD_IN_MB}
POST /invocations           body by Content-Type (none means application/json):

application/json, one request object:
  ratings          {"customer_id": ["A1", 17], "product_id": ["B1", "B2"]}  -> [4.21, 3.87]
                   (a bare list in request order, as the notebook expects; a scalar on one side is
                   repeated for every id on the other side; ids are strings or whole numbers)
                   + "details": true -> {"predictions": [...], "unknown": [false, true],
                                         "fallback": [null, "customer_bias"]}
  recommendations  {"customer_id": "A1" or [...], "top_k": 10, "include_reviewed": false}
                   -> {"customer_id", "unknown", "fallback",
                       "recommendations": [{"product_id", "title", "predicted_rating"}, ...]}
                   (a list of such objects when customer_id is a list). Products the customer
                   reviewed in training are left out unless include_reviewed is true.
  similar products {"product_id": "B1" or [...], "top_k": 10}
                   -> {"product_id", "unknown", "fallback", "similar": [{"product_id", "title", "similarity"}]}
                   (cosine similarity of the model's item vectors; the product itself is left out)
text/csv:              rows "customer_id,product_id" (optional header) -> ratings, one per row.
application/jsonlines: one request object per line -> one output line per input line.

Accept: application/json (default, also for none or */*), application/jsonlines (one line per
input record: per line of a JSON-lines body, per row of a CSV body, the whole document for a
JSON body), text/csv (ratings only: one rating per line). Anything else: 406.

Unknown ids never map to another id. Ratings fall back to: unknown customer -> the product's mean
training rating; unknown product -> global mean + the customer's bias; both -> the global mean.
Recommendations for an unknown customer are the most reviewed products ("fallback": "popular");
similar products of an unknown product, or of one whose vector is all zeros (a relu layer can
leave a product so), are an empty list ("fallback": "no_vector" for the latter). All flagged "unknown": true.
"strict": true in a request (or MFREC_STRICT_UNKNOWN=true on the server, which a request can
override with "strict": false) turns unknown ids into a 422 error listing them.
Ratings are clipped to the training rating range unless MFREC_CLIP_PREDICTIONS=false.

Errors are JSON {"error": "..."}: 400 bad body, types, lengths, empty or too many items;
404/405 route or method; 406 Accept; 413 body over the payload limit; 415 content type;
422 unknown ids in a strict request. Server settings: see mfrec.serving.config.
"""
