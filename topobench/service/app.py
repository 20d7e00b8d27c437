"""The HTTP face of the retrieval service (FastAPI): ``POST /encode``, ``POST /search``, ``GET /health``,
``GET /indexes``; the OpenAPI schema at ``/openapi.json`` and its browsable form at ``/docs``.

Every refused request gets a 4xx and a JSON body whose ``detail`` is one line saying what to change: 413 for a body
over ``--max-body`` and 400 for one that is not UTF-8 (both answered by :class:`topobench.service.guard.BodyGuard`
before FastAPI reads the body; every body is read as JSON whatever its content type), 400 for a body that is not
JSON, 422 for a field of the wrong type or value (a vector of the wrong dimension, k out of range, no
query, NaN where a number belongs, text with lone surrogates), 413 for too many or too long texts, 404 for an unknown
index. Field-level validation errors keep pydantic's list under ``errors``. Bodies are valid JSON whatever the request
held (:class:`SafeJSONResponse`: NaN becomes null, lone surrogates are escaped), so no client input can turn an answer
into a 500. The checks themselves live in :mod:`topobench.service.core`; this module only maps them.

Endpoints are plain (sync) functions, so uvicorn runs them on its thread pool and a slow encode never blocks the
event loop.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from topobench.service.core import RetrievalService, ServiceError
from topobench.service.guard import BodyGuard

logger = logging.getLogger(__name__)


class EncodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # JSON types as sent: no "10" for 10, no true for 1
    texts: list[str] = Field(description="texts to encode (at most --max-texts, each at most --max-text-chars)")
    kind: Literal["query", "doc"] = Field("query", description="encode as queries or as documents")


class EncodeResponse(BaseModel):
    vectors: list[list[float]]
    dimension: int
    encode_ms: float


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # JSON types as sent: no "10" for 10, no true for 1
    query: str | None = Field(None, description="a query text, encoded by the dataset's encoder")
    vector: list[float] | None = Field(None, description="a query vector of the dataset's dimension")
    k: int = Field(10, description="how many documents to return (1 ... --max-k)")
    index: str | None = Field(None, description="an id from GET /indexes, or an algorithm name; default: the first")


class SearchResponse(BaseModel):
    index: str
    k: int
    ids: list[str] = Field(description="document ids, best first")
    rows: list[int] = Field(description="the documents' row numbers in the dataset")
    scores: list[float] = Field(description="higher is better: cosine (angular), inner product (ip), minus the L2 "
                                            "distance (euclidean), BM25 score (bm25)")
    search_ms: float = Field(description="time spent in the index, milliseconds")
    encode_ms: float = Field(description="time spent encoding the query text, milliseconds (0 for a vector)")


def _safe(value: Any) -> Any:
    """``value`` made JSON-safe: non-finite floats → null, strings with lone surrogates escaped (``\\ud800``)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_safe(str(k)): _safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe(v) for v in value]
    return value


class SafeJSONResponse(JSONResponse):
    """A JSON response that always renders: whatever the request held (NaN, lone surrogates) never turns an answer,
    least of all an error, into a 500."""

    def render(self, content: Any) -> bytes:
        try:  # the common case: plain, finite, well-formed content
            return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
        except (ValueError, TypeError, UnicodeEncodeError):
            return json.dumps(_safe(jsonable_encoder(content)), ensure_ascii=False, allow_nan=False,
                              separators=(",", ":")).encode("utf-8")


def _one_line(text: str) -> str:
    return " ".join(str(_safe(text)).split())


def _summary(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(_one_line(f"{where}: {error.get('msg', 'invalid')}"))
    return "; ".join(parts)


def create_app(service: RetrievalService) -> FastAPI:
    """The FastAPI application serving ``service`` (already loaded: nothing is loaded per request)."""
    app = FastAPI(title="topobench retrieval service",
                  description=f"Dense and sparse retrieval over the saved indexes of {service.dataset.name!r}.",
                  version="1", default_response_class=SafeJSONResponse)
    app.add_middleware(BodyGuard, max_body=service.limits.max_body)

    @app.exception_handler(ServiceError)
    def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return SafeJSONResponse({"detail": _one_line(exc.message)}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail)
        if exc.status_code == 400 and detail == "There was an error parsing the body":  # not UTF-8, nested too deep
            detail = "the request body could not be read as JSON (not UTF-8, or nested too deeply): send a JSON object"
        return SafeJSONResponse({"detail": _one_line(detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    def _internal_error(request: Request, exc: Exception) -> JSONResponse:
        logger.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return SafeJSONResponse({"detail": f"internal error ({type(exc).__name__}); the server log has the "
                                           "traceback"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        bad_json = [e for e in errors if e.get("type") == "json_invalid"]
        if bad_json:
            reason = (bad_json[0].get("ctx") or {}).get("error", "JSON decode error")
            where = bad_json[0].get("loc", ("body", "?"))[-1]
            return SafeJSONResponse({"detail": _one_line(f"the request body is not valid JSON ({reason} at "
                                                         f"character {where}): send a JSON object"),
                                     "errors": errors}, status_code=400)
        return SafeJSONResponse({"detail": _summary(errors), "errors": errors}, status_code=422)

    @app.get("/health", summary="Liveness and what is loaded")
    def health() -> dict[str, Any]:
        return service.health()

    @app.get("/indexes", summary="The loaded indexes, their parameters and provenance")
    def indexes() -> dict[str, Any]:
        return service.describe()

    @app.post("/encode", response_model=EncodeResponse, summary="Texts → vectors with the dataset's encoder")
    def encode(request: EncodeRequest) -> dict[str, Any]:
        vectors, elapsed = service.encode(request.texts, request.kind)
        return {"vectors": vectors.tolist(), "dimension": int(vectors.shape[1]), "encode_ms": elapsed}

    @app.post("/search", response_model=SearchResponse, summary="Top-k documents for a query text or vector")
    def search(request: SearchRequest) -> dict[str, Any]:
        return service.search(request.index, request.query, request.vector, request.k)

    return app
