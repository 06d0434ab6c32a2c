"""Train and host the mfrec image with the SageMaker Python SDK (sagemaker>=2.200,<3).

On AWS (the image pushed to ECR, data in S3):

    python examples/sagemaker_sdk.py \\
        --image-uri 123456789012.dkr.ecr.us-east-1.amazonaws.com/mfrec:cpu \\
        --role arn:aws:iam::123456789012:role/SageMakerExecutionRole \\
        --train s3://my-bucket/reviews/ --output s3://my-bucket/mfrec/ \\
        --instance-type ml.m5.xlarge

The same script in SDK local mode (Docker and docker-compose on this machine; nothing
calls AWS: dummy credentials, telemetry opted out, data and output on local disk):

    python examples/sagemaker_sdk.py --local --image-uri mfrec:cpu \\
        --train local_test/test_dir/input/data/train --output /tmp/mfrec-sdk

Instance types. CPU image: ml.m5.*, ml.c5.* (ml.m5.xlarge is plenty for a few million
ratings). GPU image (mxnet-cu112 1.9.1): ml.g4dn (T4, compute capability 7.5), ml.g5
(A10G, 8.6), ml.p3 (V100, 7.0), ml.p4d (A100, 8.0). The wheel carries GPU code only for
compute capability 5.0, 6.0, 7.0, 8.0 and 8.6 (a 7.0 build runs on 7.5, a build runs on
newer minor versions of its major), so ml.p2's K80 (3.7) is not supported: training stops
at once with a message naming the GPU. Local mode uses "local" (or "local_gpu").
The endpoint runs the training image on --endpoint-instance-type (default ml.m5.large:
serving scores with numpy, so a CPU instance is enough). To host a model the GPU image
trained on a CPU instance, give deploy() the CPU image (image_uri=...): mxnet-cu112 does not
load without a GPU driver.

It trains, deploys an endpoint, asks for predicted ratings and recommendations, prints
them as one JSON line, and deletes the endpoint and the model.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

REGION = "us-east-1"
log = logging.getLogger("sagemaker_sdk_example")
DUMMY_ROLE = "arn:aws:iam::111111111111:role/SageMakerRole"

HYPERPARAMETERS = {
    "epochs": 8,
    "num_embeddings": 32,
    "batch_size": 1024,
    "learning_rate": 0.005,
    "optimizer": "adam",
    "min_customer_reviews": 3,
    "min_product_reviews": 5,
    "eval_max_customers": 500,
}

# SageMaker reads these from the training job's log (CloudWatch) into job metrics. The lines
# they match: "epoch=3 train_mse=0.8100 validation_mse=0.8714 ratings_per_s=123456 seconds=1.23"
# per epoch (mfrec.training), and at the end "test_mse=... test_rmse=...",
# "baseline_<name>_mse=... baseline_<name>_rmse=...", "test_hr_at_10=...", "test_ndcg_at_10=..."
# (mfrec.job; 10 is the eval_top_k hyperparameter).
METRIC_DEFINITIONS = [
    {"Name": "train:mse", "Regex": "epoch=[0-9]+ train_mse=([0-9.]+)"},
    {"Name": "validation:mse", "Regex": "validation_mse=([0-9.]+)"},
    {"Name": "train:ratings_per_s", "Regex": "ratings_per_s=([0-9.]+)"},
    {"Name": "test:mse", "Regex": "test_mse=([0-9.]+)"},
    {"Name": "test:rmse", "Regex": "test_rmse=([0-9.]+)"},
    {"Name": "test:hr_at_k", "Regex": "test_hr_at_[0-9]+=([0-9.]+)"},
    {"Name": "test:ndcg_at_k", "Regex": "test_ndcg_at_[0-9]+=([0-9.]+)"},
    {"Name": "baseline:item_mean_mse", "Regex": "baseline_item_mean_mse=([0-9.]+)"},
    {"Name": "baseline:bias_mse", "Regex": "baseline_bias_mse=([0-9.]+)"},
]


@dataclass(frozen=True)
class Options:
    image_uri: str
    role: str
    train: str
    output: str
    instance_type: str
    instance_count: int
    endpoint_instance_type: str
    local: bool
    serving_port: int
    container_root: str | None
    customer_ids: tuple[str, ...]
    product_ids: tuple[str, ...]


def parse_options(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-uri", required=True, help="ECR URI, or a local tag with --local")
    parser.add_argument("--role", help="SageMaker execution role ARN (local mode: a dummy one)")
    parser.add_argument("--train", required=True, help="s3:// prefix, or a local folder with --local")
    parser.add_argument("--output", required=True, help="s3:// prefix, or a local folder with --local")
    parser.add_argument("--instance-type", help="default: ml.m5.xlarge, or local with --local")
    parser.add_argument("--instance-count", type=int, default=1)
    parser.add_argument("--endpoint-instance-type", help="default: ml.m5.large, or local with --local")
    parser.add_argument("--local", action="store_true", help="SDK local mode (Docker on this machine)")
    parser.add_argument("--serving-port", type=int, default=8080, help="local mode: the endpoint's host port")
    parser.add_argument("--container-root", help="local mode: scratch folder for the containers' files (default /tmp)")
    parser.add_argument("--customer-ids", nargs="+", default=["53641426", "08766908"])
    parser.add_argument("--product-ids", nargs="+", default=["B07FIBSMCC", "B095P7AX5R"])
    args = parser.parse_args(argv)
    if not (args.role or args.local):
        parser.error("--role is required outside local mode")
    return Options(
        image_uri=args.image_uri, role=args.role or DUMMY_ROLE, train=args.train, output=args.output,
        instance_type=args.instance_type or ("local" if args.local else "ml.m5.xlarge"),
        instance_count=args.instance_count,
        endpoint_instance_type=args.endpoint_instance_type or ("local" if args.local else "ml.m5.large"),
        local=args.local, serving_port=args.serving_port,
        container_root=args.container_root,
        customer_ids=tuple(args.customer_ids), product_ids=tuple(args.product_ids),
    )


def make_local_session(serving_port: int, container_root: str | None):
    """A LocalSession that talks to Docker only: dummy credentials, no telemetry, local code."""
    import boto3
    from sagemaker.local import LocalSession

    boto_session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION)
    no_telemetry = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
    session = LocalSession(boto_session=boto_session, sagemaker_config=no_telemetry)
    local = {"local_code": True, "serving_port": serving_port}
    if container_root:
        local["container_root"] = container_root
    session.config = {"local": local}
    return session


def make_estimator(options: Options, session):
    from sagemaker.estimator import Estimator

    return Estimator(
        image_uri=options.image_uri,
        role=options.role,
        instance_count=options.instance_count,
        instance_type=options.instance_type,
        output_path=_uri(options.output, options.local),
        hyperparameters=HYPERPARAMETERS,
        metric_definitions=METRIC_DEFINITIONS,
        sagemaker_session=session,
        max_run=3600,
    )


def _uri(location: str, local: bool) -> str:
    return f"file://{Path(location).resolve()}" if local and "://" not in location else location


def train_deploy_predict(options: Options) -> dict:
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.serializers import JSONSerializer

    session = make_local_session(options.serving_port, options.container_root) if options.local else None
    estimator = make_estimator(options, session)
    estimator.fit({"train": _uri(options.train, options.local)}, wait=True, logs=True)
    # Local mode starts the endpoint synchronously (create_endpoint returns once /ping
    # answers); waiting would only add the SDK's first 30 s poll.
    predictor = estimator.deploy(
        initial_instance_count=1, instance_type=options.endpoint_instance_type,
        serializer=JSONSerializer(), deserializer=JSONDeserializer(), wait=not options.local,
    )
    try:
        log.info("endpoint %s is up", predictor.endpoint_name)
        ratings = predictor.predict({"customer_id": list(options.customer_ids), "product_id": list(options.product_ids)})
        log.info("ratings: %s", ratings)
        recommendations = predictor.predict({"customer_id": options.customer_ids[0], "top_k": 5})
        log.info("recommendations: %s", recommendations)
    finally:
        # delete_model first: it finds the model through the endpoint config, which
        # delete_endpoint deletes.
        predictor.delete_model()
        predictor.delete_endpoint()
    return {
        "model_data": estimator.model_data,
        "ratings": ratings,
        "recommendations": recommendations,
    }


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = train_deploy_predict(parse_options(sys.argv[1:] if argv is None else argv))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
