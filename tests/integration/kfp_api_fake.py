"""A local HTTP server on 127.0.0.1 with the subset of the KFP v2beta1 REST API that `recforge submit`, `schedule`
and `runs` use (through `kfp.Client`): health, pipelines (list, upload, upload_version, versions), experiments
(list, create), runs (create, list) and recurring runs (create).

Every JSON request body is checked against the `kfp-server-api` model of its endpoint: an unknown field, a value of
the wrong type or a value outside an enum's allowed values is a 400, as is an uploaded package that is not a KFP
pipeline spec. Requests are recorded for the tests; state lives in memory.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import kfp_server_api
import yaml

PREFIX = "/apis/v2beta1"
# int64 fields: `str` in the generated models (proto JSON), a number or a digit string on the wire
INT64_FIELDS = ("max_concurrency", "interval_second")


class Invalid(Exception):
    """A request the real server would refuse (400)."""


def check_model(value: Any, model: str, where: str) -> None:
    """`value` (decoded JSON) fits the kfp-server-api model `model`, recursively."""
    cls = getattr(kfp_server_api.models, model)
    allowed = getattr(cls, "allowable_values", None)
    if not cls.openapi_types:  # an enum: a string among the allowed values
        if not isinstance(value, str) or (allowed and value not in allowed):
            raise Invalid(f"{where}: {value!r} is not a {model} (expected one of {allowed})")
        return
    if not isinstance(value, dict):
        raise Invalid(f"{where}: expected an object ({model}), got {type(value).__name__}")
    by_json = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    for key, item in value.items():
        if key not in by_json:
            raise Invalid(f"{where}: unknown field {key!r} of {model}")
        kind = cls.openapi_types[by_json[key]]
        check_type(item, "int" if key in INT64_FIELDS else kind, f"{where}.{key}")


def check_type(value: Any, kind: str, where: str) -> None:
    if value is None:
        return
    if kind.startswith("list["):
        if not isinstance(value, list):
            raise Invalid(f"{where}: expected a list")
        for i, item in enumerate(value):
            check_type(item, kind[5:-1], f"{where}[{i}]")
    elif kind.startswith("dict("):
        if not isinstance(value, dict):
            raise Invalid(f"{where}: expected an object")
        inner = kind[5:-1].split(", ", 1)[1]
        for key, item in value.items():
            check_type(item, inner, f"{where}.{key}")
    elif kind == "str" or kind == "datetime":
        if not isinstance(value, str):
            raise Invalid(f"{where}: expected a string, got {value!r}")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).lstrip("-").isdigit():
            raise Invalid(f"{where}: expected an integer, got {value!r}")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise Invalid(f"{where}: expected a boolean, got {value!r}")
    elif kind == "object":
        pass  # google.protobuf.Value / Struct: any JSON
    else:
        check_model(value, kind, where)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _predicate(query: dict[str, list[str]]) -> tuple[str, str] | None:
    """The display_name EQUALS filter kfp.Client sends, if any."""
    if "filter" not in query:
        return None
    for p in json.loads(query["filter"][0]).get("predicates", []):
        return p["key"], p.get("string_value", p.get("stringValue", ""))
    return None


class FakeKFP:
    """The server's state and its requests log; `url` once started."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token  # when set, every request must carry `Authorization: Bearer <token>` (else 401)
        self.pipelines: dict[str, dict] = {}
        self.versions: dict[str, list[dict]] = {}
        self.packages: dict[str, dict] = {}  # version id -> the uploaded pipeline spec
        self.experiments: dict[str, dict] = {}
        self.runs: list[dict] = []
        self.recurring: list[dict] = []
        self.requests: list[tuple[str, str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeKFP:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- endpoints ---------------------------------------------------------------------------------------------
    def _add_version(self, pipeline_id: str, name: str, package: bytes) -> dict:
        spec = list(yaml.safe_load_all(package))
        if not spec or "pipelineInfo" not in spec[0] or "root" not in spec[0] or "deploymentSpec" not in spec[0]:
            raise Invalid("uploadfile: not a KFP pipeline spec (pipelineInfo, root, deploymentSpec)")
        version = {"pipeline_id": pipeline_id, "pipeline_version_id": str(uuid.uuid4()), "display_name": name,
                   "created_at": _now()}  # fmt: skip
        self.versions.setdefault(pipeline_id, []).append(version)
        self.packages[version["pipeline_version_id"]] = spec[0]
        return version

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, dict]:
        self.requests.append((method, path, body if not isinstance(body, bytes) else "<package>"))
        if method == "GET" and path == "/healthz":
            return 200, {"multi_user": False}
        if method == "GET" and path == "/pipelines":
            match = _predicate(query)
            found = [p for p in self.pipelines.values() if not match or p["display_name"] == match[1]]
            return 200, {"pipelines": found, "total_size": len(found)} if found else {}
        if method == "POST" and path == "/pipelines/upload":
            name = query["name"][0]
            if any(p["display_name"] == name for p in self.pipelines.values()):
                return 409, {"error": f"pipeline {name} exists"}
            pipeline = {"pipeline_id": str(uuid.uuid4()), "display_name": name, "created_at": _now(),
                        "description": query.get("description", [""])[0]}  # fmt: skip
            self._add_version(pipeline["pipeline_id"], name, body)
            self.pipelines[pipeline["pipeline_id"]] = pipeline
            return 200, pipeline
        if method == "POST" and path == "/pipelines/upload_version":
            pipeline_id = query["pipelineid"][0]
            if pipeline_id not in self.pipelines:
                return 404, {"error": f"no pipeline {pipeline_id}"}
            return 200, self._add_version(pipeline_id, query["name"][0], body)
        if method == "GET" and path.startswith("/pipelines/") and path.endswith("/versions"):
            versions = sorted(self.versions.get(path.split("/")[2], []), key=lambda v: v["created_at"], reverse=True)
            return 200, {"pipeline_versions": versions, "total_size": len(versions)}
        if method == "GET" and path == "/experiments":
            match = _predicate(query)
            found = [e for e in self.experiments.values() if not match or e["display_name"] == match[1]]
            return 200, {"experiments": found, "total_size": len(found)} if found else {}
        if method == "POST" and path == "/experiments":
            check_model(body, "V2beta1Experiment", "experiment")
            experiment = {**body, "experiment_id": str(uuid.uuid4()), "created_at": _now()}
            self.experiments[experiment["experiment_id"]] = experiment
            return 200, experiment
        if method == "POST" and path == "/runs":
            check_model(body, "V2beta1Run", "run")
            self._check_reference(body)
            run = {**body, "run_id": str(uuid.uuid4()), "state": "PENDING", "created_at": _now()}
            self.runs.append(run)
            return 200, run
        if method == "GET" and path == "/runs":
            runs = sorted(self.runs, key=lambda r: r["created_at"], reverse=True)[: int(query["page_size"][0])]
            return 200, {"runs": runs, "total_size": len(self.runs)}
        if method == "POST" and path == "/recurringruns":
            check_model(body, "V2beta1RecurringRun", "recurring_run")
            self._check_reference(body)
            recurring = {**body, "recurring_run_id": str(uuid.uuid4()), "status": "ENABLED", "created_at": _now()}
            self.recurring.append(recurring)
            return 200, recurring
        return 404, {"error": f"{method} {path} is not part of this fake"}

    def _check_reference(self, body: dict) -> None:
        reference = body.get("pipeline_version_reference") or {}
        if reference.get("pipeline_version_id") not in self.packages:
            raise Invalid("pipeline_version_reference: no such pipeline version")
        if body.get("experiment_id") not in self.experiments:
            raise Invalid("experiment_id: no such experiment")
        spec = self.packages[reference["pipeline_version_id"]]
        declared = spec["root"].get("inputDefinitions", {}).get("parameters", {})
        for name in (body.get("runtime_config") or {}).get("parameters", {}):
            if name not in declared:
                raise Invalid(f"runtime_config.parameters: {name} is not a parameter of the pipeline")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                url = urlparse(self.path)
                if fake.token and self.headers.get("Authorization") != f"Bearer {fake.token}":
                    fake.requests.append((method, url.path, "<unauthorized>"))
                    self._answer(401, {"error": "Unauthorized", "code": 16})
                    return
                if not url.path.startswith(PREFIX):
                    self._answer(404, {"error": "not the v2beta1 API"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = None
                    kind = self.headers.get("Content-Type", "")
                    if kind.startswith("multipart/form-data"):
                        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                            b"Content-Type: " + kind.encode() + b"\r\n\r\n" + raw
                        )
                        parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
                        if "uploadfile" not in parts:
                            raise Invalid("multipart body without an uploadfile part")
                        body = parts["uploadfile"].get_payload(decode=True)
                    elif raw:
                        body = json.loads(raw)
                    status, answer = fake.handle(method, url.path[len(PREFIX) :], parse_qs(url.query), body)
                except Invalid as exc:
                    status, answer = 400, {"error": str(exc)}
                self._answer(status, answer)

            def _answer(self, status: int, answer: dict) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
