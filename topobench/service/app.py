"""The HTTP face of the retrieval service (FastAPI): ``POST /encode``, ``POST /search``, ``GET /health``,
``GET /indexes``; the OpenAPI schema at ``/openapi.json`` and its browsable form at ``/docs``.

Every refused request gets a 4xx and a JSON body whose ``detail`` is one line saying what to change: 400 for a body
that is not JSON, 422 for a field of the wrong type or value (a vector of the wrong dimension, k out of range, no
query), 413 for too many or too long texts, 404 for an unknown index. Field-level validation errors keep pydantic's
list under ``errors``. The checks themselves live in :mod:`topobench.service.core`; this module only maps them.

Endpoints are plain (sync) functions, so uvicorn runs them on its thread pool and a slow encode never blocks the
event loop.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from topobench.service.core import RetrievalService, ServiceError

logger = logging.getLogger(__name__)


class EncodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(description="texts to encode (at most --max-texts, each at most --max-text-chars)")
    kind: Literal["query", "doc"] = Field("query", description="encode as queries or as documents")


class EncodeResponse(BaseModel):
    vectors: list[list[float]]
    dimension: int
    encode_ms: float


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
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


def _summary(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def create_app(service: RetrievalService) -> FastAPI:
    """The FastAPI application serving ``service`` (already loaded: nothing is loaded per request)."""
    app = FastAPI(title="topobench retrieval service",
                  description=f"Dense and sparse retrieval over the saved indexes of {service.dataset.name!r}.",
                  version="1")

    @app.exception_handler(ServiceError)
    def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        bad_json = [e for e in errors if e.get("type") == "json_invalid"]
        if bad_json:
            reason = (bad_json[0].get("ctx") or {}).get("error", "JSON decode error")
            where = bad_json[0].get("loc", ("body", "?"))[-1]
            return JSONResponse({"detail": f"the request body is not valid JSON ({reason} at character {where}): "
                                           "send a JSON object", "errors": jsonable_encoder(errors)}, status_code=400)
        return JSONResponse({"detail": _summary(errors), "errors": jsonable_encoder(errors)}, status_code=422)

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
