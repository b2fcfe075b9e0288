"""Request and response bodies of the service API (pydantic; they make the OpenAPI schema)."""

from __future__ import annotations

import datetime as _dt
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from radsynth.service.keys import NAME_PATTERN


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    error: str = Field(description="Short code: unauthorized, forbidden, not_found, invalid_input, too_large, ...")
    detail: str = Field(description="One line: what is wrong and what is accepted.")
    field: Optional[str] = Field(None, description="The request field at fault, when there is one.")


class JobSubmit(_Strict):
    kind: Literal["cohort-build", "sample", "evaluate"] = Field("cohort-build", description="Job kind.")
    spec: Union[dict[str, Any], str] = Field(
        ..., description="cohort-build: the cohort spec the CLI takes (`radsynth cohort build SPEC`); sample / "
                         "evaluate: the options of `radsynth sample` / `radsynth evaluate` by name (model, n, ... / "
                         "real, synthetic, test, preset, ...; paths relative to the data root). A JSON object, or "
                         "its YAML/JSON text.")

    @field_validator("spec", mode="before")
    @classmethod
    def _mapping_or_text(cls, v: Any) -> Any:
        if not isinstance(v, (dict, str)):
            raise ValueError("accepted: a JSON object or YAML/JSON text")
        return v


class JobOut(BaseModel):
    id: str
    kind: str
    state: Literal["queued", "running", "succeeded", "failed"]
    progress: float = Field(description="0..1: finished subjects / subjects; 1 only when succeeded.")
    n_done: int
    n_total: int
    error: Optional[str] = Field(None, description="Why the job failed.")
    note: Optional[str] = Field(None, description="E.g. resumed after a service restart.")
    attempts: int
    owner: str
    spec_hash: str
    output_dir: str = Field(description="Relative to the data root.")
    created_at: str
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    updated_at: str


class JobList(BaseModel):
    jobs: list[JobOut]


class FileEntry(BaseModel):
    path: str
    size: int


class FileList(BaseModel):
    job_id: str
    files: list[FileEntry]


class KeyCreate(_Strict):
    name: str = Field(..., pattern=NAME_PATTERN, description="Actor name in the audit log.")
    role: Literal["viewer", "operator", "admin"]
    expires_at: Optional[_dt.datetime] = Field(None, description="Timezone-aware expiry, e.g. 2027-01-31T00:00:00Z.")


class KeyOut(BaseModel):
    id: str
    name: str
    role: str
    created_at: str
    expires_at: Optional[str] = None
    revoked: bool
    revoked_at: Optional[str] = None
    last_used_at: Optional[str] = None


class KeyCreated(KeyOut):
    token: str = Field(description="The API key. Shown once; only its sha256 is stored.")


class KeyList(BaseModel):
    keys: list[KeyOut]


class AuditHead(BaseModel):
    seq: int
    hash: str


class AuditOut(BaseModel):
    records: list[dict[str, Any]]
    head: AuditHead
    problems: Optional[list[dict[str, Any]]] = Field(None, description="Chain check (with verify=true); [] = intact.")


class Health(BaseModel):
    status: Literal["ok"]
    version: str
