"""/api/v1/collectors: the tenant's collector registry (issue 12). Every user reads it; editors
and admins create and edit collectors. The collection files uploaded for a collector are
listed with their upload time, size and ingest result, and can be downloaded again byte for
byte. Another tenant's ids are 404s.

No `from __future__ import annotations`: FastAPI resolves the annotations at run time."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from fleetscope.model.auth import Principal
from fleetscope.query.collectors import (
    CollectionFile,
    Collector,
    CollectorQueries,
    Duplicate,
    NotFound,
)
from fleetscope.web.deps import MAX_ID, CurrentUser, PathId, client_address, read_router
from fleetscope.web.services import ReadServices

# Fields as the registry bounds them (store/collectors.py); 0 cores or bytes is allowed.
Machine = Annotated[str, Field(min_length=1, max_length=255)]
Site = Annotated[str, Field(max_length=128)]
ShortText = Annotated[str, Field(max_length=255)]
Cores = Annotated[int, Field(ge=0, le=MAX_ID)]  # an INTEGER column, as ids are
Bytes = Annotated[int, Field(ge=0, le=2**63 - 1)]
# A capture and a collection file are JSON Lines.
FILE_MEDIA_TYPE = "application/x-ndjson"


class CollectorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    machine: Machine
    site: Site = ""
    machine_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    platform: ShortText | None = None
    chip_maker: ShortText | None = None
    cpu_model: ShortText | None = None
    cores: Cores | None = None
    memory_bytes: Bytes | None = None
    owner: ShortText | None = None


class CollectorPatch(BaseModel):
    """The fields to change; one left out stays, null clears it."""

    model_config = ConfigDict(extra="forbid")
    machine: Machine | None = None
    site: Site | None = None
    machine_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    platform: ShortText | None = None
    chip_maker: ShortText | None = None
    cpu_model: ShortText | None = None
    cores: Cores | None = None
    memory_bytes: Bytes | None = None
    owner: ShortText | None = None


class CollectorOut(BaseModel):
    id: int
    machine: str
    site: str
    machine_id: str | None
    host_id: int | None
    platform: str | None
    chip_maker: str | None
    cpu_model: str | None
    cores: int | None
    memory_bytes: int | None
    owner: str | None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    files: str


class CollectionFileOut(BaseModel):
    id: int
    collector_id: int
    uploaded_at: AwareDatetime
    uploaded_by: str
    size_bytes: int
    content_sha256: str
    result: str
    detail: str | None
    collection_id: int | None
    download: str


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _collector(c: Collector) -> CollectorOut:
    return CollectorOut(
        id=c.id, machine=c.machine, site=c.site, machine_id=c.machine_id, host_id=c.host_id,
        platform=c.platform, chip_maker=c.chip_maker, cpu_model=c.cpu_model, cores=c.cores,
        memory_bytes=c.memory_bytes, owner=c.owner, created_at=_time(c.created_ms),
        updated_at=_time(c.updated_ms), files=f"/api/v1/collectors/{c.id}/files",
    )  # fmt: skip


def _file(f: CollectionFile) -> CollectionFileOut:
    return CollectionFileOut(
        id=f.id, collector_id=f.collector_id, uploaded_at=_time(f.uploaded_ms),
        uploaded_by=f.uploaded_by, size_bytes=f.size_bytes, content_sha256=f.content_sha256,
        result=f.result.value, detail=f.detail, collection_id=f.collection_id,
        download=f"/api/v1/collectors/{f.collector_id}/files/{f.id}",
    )  # fmt: skip


def _editor(user: Principal) -> None:
    if not user.may_manage_collectors():
        raise HTTPException(403, "editing collectors needs the editor or admin role")


def _changes(body: BaseModel) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    for name in ("machine", "site"):
        if name in changes and changes[name] is None:
            raise HTTPException(422, f"{name}: may be changed, not cleared")
    return changes


def build_collectors_router(services: ReadServices, collectors: CollectorQueries) -> APIRouter:
    router = read_router(services, prefix="/api/v1/collectors", tags=["collectors"])

    @router.get("", summary="The tenant's collectors (monitored machines)")
    def list_collectors(
        user: CurrentUser,
        site: Annotated[str | None, Query(max_length=128, description="only this site")] = None,
    ) -> list[CollectorOut]:
        return [_collector(c) for c in collectors.collectors(user.tenant_id, site=site)]

    @router.post("", status_code=201, summary="Register a collector (editor or admin)")
    def create(body: CollectorIn, user: CurrentUser, request: Request) -> CollectorOut:
        _editor(user)
        values = _changes(body)
        machine = values.pop("machine")
        address = client_address(request)
        try:
            made = collectors.create(
                user.tenant_id, user.subject, machine, address=address, **values
            )
            return _collector(made)
        except Duplicate as exc:
            raise HTTPException(409, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc

    @router.get("/{collector_id}", summary="One collector")
    def show(collector_id: PathId, user: CurrentUser) -> CollectorOut:
        try:
            return _collector(collectors.get(user.tenant_id, collector_id))
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc

    @router.patch("/{collector_id}", summary="Edit a collector (editor or admin)")
    def edit(
        collector_id: PathId, body: CollectorPatch, user: CurrentUser, request: Request
    ) -> CollectorOut:
        _editor(user)
        address = client_address(request)
        changes = _changes(body)
        try:
            return _collector(
                collectors.update(
                    user.tenant_id, user.subject, collector_id, address=address, **changes
                )
            )
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except Duplicate as exc:
            raise HTTPException(409, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc

    @router.get("/{collector_id}/files", summary="Files uploaded for a collector, newest first")
    def list_files(
        collector_id: PathId,
        user: CurrentUser,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    ) -> list[CollectionFileOut]:
        try:
            found = collectors.files(user.tenant_id, collector_id, limit=limit, before_id=before_id)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        return [_file(f) for f in found]

    @router.get(
        "/{collector_id}/files/{file_id}",
        summary="Download a file as it was uploaded",
        response_class=Response,
        responses={200: {"content": {FILE_MEDIA_TYPE: {}}}},
    )
    def download(collector_id: PathId, file_id: PathId, user: CurrentUser) -> Response:
        try:
            found, content = collectors.file(user.tenant_id, collector_id, file_id)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        name = f"collector-{collector_id}-file-{found.id}.jsonl"
        return Response(
            content,
            media_type=FILE_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return router
