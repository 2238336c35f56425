"""Routes: the native view of tickets per side (`/api/v1/incidents`) and the TMF621 facade."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from gridcell.core.db import Database
from gridcell.deps import get_caller, get_db
from gridcell.incidents import service
from gridcell.incidents.tmf621_api import router as tmf621
from gridcell.tenancy.service import Caller

router = APIRouter(prefix="/incidents", tags=["incidents"])
root_routers = [tmf621]


@router.get("", summary="The caller's trouble tickets (a DSO's reported, an MNO's addressed) with attribution")
def list_incidents(all_states: bool = Query(False, alias="all", description="include closed, cancelled, rejected"),
                   caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    with db.write() as session:  # audited
        return service.summaries(session, caller, open_only=not all_states)
