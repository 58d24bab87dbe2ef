"""The dashboard: server-rendered pages (Jinja2 + HTMX), charts from a vendored ECharts, no CDN.

`install_web(app)` mounts the static files and the page routes on the service.
"""

from altaviz.web.router import install_web

__all__ = ["install_web"]
