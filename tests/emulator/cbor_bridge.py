"""Smithy RPC v2 CBOR -> moto, for the Rust CloudWatch SDK.

aws-sdk-cloudwatch (Rust, 1.1xx) speaks only `smithy-rpc-v2-cbor`:
POST /service/GraniteServiceVersion20100801/operation/<Op>, CBOR body, header
`smithy-protocol: rpc-v2-cbor`. moto 5.2 answers that with a 404. boto3 still
picks CloudWatch's JSON 1.0 protocol, which moto does serve, so this bridge
re-encodes: CBOR request -> JSON 1.0 request to moto -> JSON response -> CBOR.
botocore's own model-driven CBOR and JSON codecs do the (de)serialising, so
timestamps become CBOR tag 1 epoch seconds as the Rust decoder requires.
"""

from __future__ import annotations

import io
import json
import traceback
from functools import lru_cache
from typing import Any

import botocore.session
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from werkzeug.wrappers import Request, Response

# The service shape in the request path -> botocore's service name.
SERVICES = {"GraniteServiceVersion20100801": "cloudwatch"}


@lru_cache(maxsize=None)
def _model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def is_rpcv2_cbor(environ: dict[str, Any]) -> bool:
    return environ.get("HTTP_SMITHY_PROTOCOL") == "rpc-v2-cbor"


def handle(moto_app: Any, environ: dict[str, Any]) -> Response:
    try:
        return _bridge(moto_app, environ)
    except Exception as exc:  # an SDK can parse a CBOR error; werkzeug's HTML 500 page it cannot
        traceback.print_exc()
        return _cbor_error(500, "InternalFailure", f"gantry CBOR bridge: {exc!r}")


def _bridge(moto_app: Any, environ: dict[str, Any]) -> Response:
    request = Request(environ)
    parts = request.path.strip("/").split("/")  # service/<Service>/operation/<Op>
    if len(parts) != 4 or parts[1] not in SERVICES:
        return _cbor_error(404, "UnknownOperationException", f"no CBOR bridge for {request.path}")
    operation = _model(SERVICES[parts[1]]).operation_model(parts[3])

    params: dict[str, Any] = {}
    body = request.get_data()
    if operation.input_shape is not None and body:
        params = create_parser("smithy-rpc-v2-cbor").parse(
            {"body": body, "headers": {}, "status_code": 200}, operation.input_shape)
        params.pop("ResponseMetadata", None)
    json_request = create_serializer("json", include_validation=False).serialize_to_request(params, operation)

    inner = {k: v for k, v in environ.items() if k not in ("HTTP_SMITHY_PROTOCOL", "HTTP_ACCEPT")}
    inner.update({
        "PATH_INFO": "/",
        "CONTENT_TYPE": json_request["headers"]["Content-Type"],
        "HTTP_X_AMZ_TARGET": json_request["headers"]["X-Amz-Target"],
        "CONTENT_LENGTH": str(len(json_request["body"])),
        "wsgi.input": io.BytesIO(json_request["body"]),
    })
    moto_response = Response.from_app(moto_app, inner, buffered=True)
    data = moto_response.get_data()
    request_id = moto_response.headers.get("x-amzn-RequestId", "")

    if moto_response.status_code >= 300:
        try:
            error = json.loads(data or b"{}")
        except ValueError:
            error = {}
        code = error.get("__type") or moto_response.headers.get("x-amzn-ErrorType") or "InternalFailure"
        message = error.get("message") or error.get("Message") or ""
        response = _cbor_error(moto_response.status_code, code.split("#")[-1], message)
        for name in ("x-amzn-query-error", "x-amzn-RequestId"):  # query-compatible error code
            if name in moto_response.headers:
                response.headers[name] = moto_response.headers[name]
        return response

    encoded = bytearray(b"\xa0")  # an empty map for outputs without members
    if operation.output_shape is not None:
        parsed = create_parser("json").parse(
            {"body": data, "headers": dict(moto_response.headers.items()), "status_code": 200},
            operation.output_shape)
        parsed.pop("ResponseMetadata", None)
        encoded = bytearray()
        create_serializer("smithy-rpc-v2-cbor", include_validation=False)._serialize_data_item(
            encoded, parsed, operation.output_shape)
    return _cbor_response(200, bytes(encoded), request_id)


def _cbor_error(status: int, code: str, message: str) -> Response:
    serializer = create_serializer("smithy-rpc-v2-cbor", include_validation=False)
    body = bytearray(b"\xa2")  # a map of two text pairs: __type and message
    for text in ("__type", code, "message", message):
        serializer._serialize_type_string(body, text, None, None)
    return _cbor_response(status, bytes(body), "")


def _cbor_response(status: int, body: bytes, request_id: str) -> Response:
    response = Response(body, status, content_type="application/cbor")
    response.headers["smithy-protocol"] = "rpc-v2-cbor"
    if request_id:
        response.headers["x-amzn-RequestId"] = request_id
    return response
