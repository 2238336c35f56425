"""The dashboard's routes, mounted as they are (outside /api/v1): one router per part of the console."""

from __future__ import annotations

from gridcell.web.admin_pages import router as admin_router
from gridcell.web.pages import pages

root_routers = [pages, admin_router]
