"""Errors on pages answer with a page, not JSON.

The API's handlers (api/errors.py) decide status and sentence for every failure; for a page request
(not /api, not an htmx call, which shows the sentence in a toast) the same answer is rendered as an
HTML page that says what to do.
"""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from altaviz.web.templating import templates

Handler = Callable[[Request, Exception], Awaitable[Response] | Response]
NEXT_STEP = {
    401: "Sign in again.",
    403: "Ask an admin or owner of your organization if you need this.",
    404: "Check the address, or start from the fleet page.",
    422: "Check the address: one of its parameters is not valid.",
    429: "Wait a minute and try again.",
    503: "Try again in a moment; if it lasts, tell whoever runs this Altaviz service.",
}


def _is_page(request: Request) -> bool:
    path = request.url.path
    return not path.startswith(("/api/", "/static/")) and request.headers.get("hx-request") != "true"


def _wrap(handler: Handler) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def page_or_json(request: Request, exc: Exception) -> Response:
        answer = handler(request, exc)
        response = await answer if isinstance(answer, Awaitable) else answer
        if not _is_page(request) or response.status_code < 400:
            return response
        try:
            body: dict[str, Any] = json.loads(bytes(response.body))
        except ValueError:
            body = {}
        status = response.status_code
        html = templates.TemplateResponse(
            request,
            "error.html",
            {
                "status": status,
                "message": body.get("error") or "Something went wrong.",
                "next_step": NEXT_STEP.get(status, "Try again; if it keeps failing, quote the request id."),
                "request_id": body.get("requestId"),
            },
            status_code=status,
        )
        for name in ("retry-after", "www-authenticate"):
            if name in response.headers:
                html.headers[name] = response.headers[name]
        return html

    return page_or_json


def install_page_errors(app: FastAPI) -> None:
    """Wrap every installed handler (call after the API's handlers are installed)."""
    for key, handler in list(app.exception_handlers.items()):
        app.add_exception_handler(key, _wrap(handler))
