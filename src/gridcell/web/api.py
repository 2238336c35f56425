"""The dashboard's routes, mounted as they are (outside /api/v1): one router per part of the console."""

from __future__ import annotations

from gridcell.web.admin_pages import router as admin_router
from gridcell.web.api_docs import router as docs_router
from gridcell.web.ops_pages import router as ops_router
from gridcell.web.outage_pages import router as outage_router
from gridcell.web.pages import pages
from gridcell.web.site_pages import router as site_router
from gridcell.web.subscription_pages import router as subscription_router
from gridcell.web.ticket_pages import router as ticket_router

root_routers = [pages, site_router, ticket_router, outage_router, ops_router, subscription_router, admin_router,
                docs_router]
