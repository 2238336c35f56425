"""Who am I, my agreements, my clients, who read my data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Response

from gridcell.core.db import Database
from gridcell.deps import get_caller, get_db
from gridcell.tenancy import schemas as sc
from gridcell.tenancy import service
from gridcell.tenancy.service import Caller

router = APIRouter(tags=["tenancy"])


@router.get("/me", response_model=sc.MeOut)
def me(caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> dict[str, Any]:
    with db.read() as session:
        org = service.get_org(session, caller.org_id)
    return {"clientId": caller.client_id, "orgId": org.id, "orgName": org.name, "orgKind": org.kind,
            "role": caller.role}


@router.get("/agreements", response_model=list[sc.AgreementOut])
def agreements(caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    with db.read() as session:
        rows = service.agreements_for(session, caller.org_id)
    return [{"id": a.id, "dsoId": a.dso_id, "mnoId": a.mno_id, "plmns": list(a.plmns),
             "siteIds": sorted(a.site_ids) if a.site_ids is not None else None, "level": a.level,
             "shareTelemetry": a.share_telemetry, "slaTarget": a.sla_target} for a in rows]


@router.post("/clients", response_model=sc.ClientOut, status_code=201,
             summary="Create an API client of the caller's own organisation (admin)")
def create_client(body: sc.ClientIn, caller: Caller = Depends(get_caller),
                  db: Database = Depends(get_db)) -> dict[str, Any]:
    caller.require("admin")
    with db.write() as session:
        client_id, token = service.create_client(session, caller.org_id, body.role, body.name)
    return {"id": client_id, "role": body.role, "token": token}


@router.get("/clients", response_model=list[sc.ClientListItem],
            summary="The API clients of the caller's own organisation (admin); tokens are never shown again")
def list_clients(caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    with db.read() as session:
        rows = service.list_clients(session, caller)
    return [{"id": c.id, "name": c.name, "role": c.role, "createdAt": c.created_at, "revoked": c.revoked}
            for c in rows]


@router.delete("/clients/{client_id}", status_code=204,
               summary="Revoke an API client of the caller's own organisation (admin): its token and the dashboard "
                       "sessions it opened stop working at once")
def revoke_client(client_id: str = Path(max_length=40), caller: Caller = Depends(get_caller),
                  db: Database = Depends(get_db)) -> Response:
    with db.write() as session:
        service.revoke_client(session, caller, client_id)
        service.record_action(session, caller, "revoke API client", {"client": client_id})
    return Response(status_code=204)


@router.get("/audit", response_model=list[sc.AuditOut],
            summary="Cross-organisation reads by or of this organisation (admin)")
def audit_log(limit: int = Query(100, ge=1, le=1000),
              before: int | None = Query(None, ge=1, description="only entries older than this entry id (paging)"),
              caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    caller.require("admin")
    with db.read() as session:
        rows = service.audit_entries(session, caller.org_id, limit, before)
    return [{"id": r.id, "at": r.at, "clientId": r.client_id, "orgId": r.org_id, "action": r.action,
             "counterparts": r.counterpart_org_ids, "detail": r.detail} for r in rows]
