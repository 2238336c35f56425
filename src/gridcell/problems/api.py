"""Routes: native views of problems and trend proposals per side, and the TMF656 facade."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from gridcell.core.db import Database
from gridcell.deps import get_caller, get_db
from gridcell.problems import service
from gridcell.problems.tmf656_api import router as tmf656
from gridcell.tenancy.service import Caller

router = APIRouter(prefix="/problems", tags=["problems"])
root_routers = [tmf656]


@router.get("", summary="The caller's service problems (a DSO's also: trend proposals not yet sent)")
def list_problems(all_states: bool = Query(False, alias="all", description="include closed, cancelled, rejected"),
                  caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    with db.write() as session:
        return service.summaries(session, caller, open_only=not all_states)


@router.post("/proposals/{proposal_id}/send", summary="Send a trend proposal to the MNO as a TMF656 problem (DSO)")
def send_proposal(proposal_id: str, caller: Caller = Depends(get_caller),
                  db: Database = Depends(get_db)) -> dict[str, Any]:
    with db.write() as session:
        return service.send_proposal(session, caller, proposal_id)
