"""The API's interactive documentation, offline: Swagger UI at /docs and ReDoc at /redoc load their scripts and
styles from the vendored copies (`make assets`), never from a CDN, so they work on an operations network without
internet access."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
# The docs may load nothing from elsewhere (ReDoc's footer logo lives on a CDN: the browser does not even ask).
CSP = ("default-src 'self'; img-src 'self' data:; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")


def _offline(response: HTMLResponse) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = CSP
    return response
VENDOR = "/web/static/vendor"
ICON = "/web/static/favicon.svg"


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return _offline(get_swagger_ui_html(openapi_url=request.app.openapi_url or "/openapi.json", title="gridcell API",
                                        swagger_js_url=f"{VENDOR}/swagger-ui-dist/swagger-ui-bundle.js",
                                        swagger_css_url=f"{VENDOR}/swagger-ui-dist/swagger-ui.css",
                                        swagger_favicon_url=ICON, oauth2_redirect_url="/docs/oauth2-redirect"))


@router.get("/docs/oauth2-redirect")
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return _offline(get_redoc_html(openapi_url=request.app.openapi_url or "/openapi.json", title="gridcell API",
                                   redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js", redoc_favicon_url=ICON,
                                   with_google_fonts=False))
