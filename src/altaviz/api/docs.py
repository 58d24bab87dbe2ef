"""Interactive API documentation at /api/docs, served from this service (no CDN, no inline script).

Swagger UI's files come from the swagger-ui-bundle package; the page's start-up script is a file of
ours, so the page works under a Content-Security-Policy that allows scripts from 'self' only.
"""

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

DOCS_PATH = "/api/docs"
ASSETS_PATH = "/api/docs/static"
# Swagger UI sets style attributes from script; everything else stays as strict as elsewhere.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)

PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Altaviz API</title>
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="{DOCS_PATH}/init.js"></script>
</body>
</html>
"""

INIT_SCRIPT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    withCredentials: true,
    requestInterceptor: function (request) {
      var match = document.cookie.match(/(?:^|; )(?:__Host-)?altaviz_csrf=([^;]+)/);
      if (match) { request.headers["X-CSRF-Token"] = decodeURIComponent(match[1]); }
      return request;
    }
  });
});
"""

router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH)
def docs_page() -> HTMLResponse:
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"})


@router.get(f"{DOCS_PATH}/init.js")
def docs_script() -> Response:
    return Response(INIT_SCRIPT, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


def mount_docs(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=str(swagger_ui_path)), name="api-docs-assets")
