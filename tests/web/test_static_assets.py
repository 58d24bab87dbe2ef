"""Static assets over HTTP (issue 17 item 8): text assets gzip-compressed, content-hashed URLs cached
for a year as immutable, anything else revalidated; ECharts — a bundle of only the chart types the
pages draw — only on the pages that draw charts."""

import gzip
import re

import httpx2
import pytest
from fastapi import FastAPI

from altaviz.accounts.roles import Role
from altaviz.web.templating import STATIC_DIR, static
from tests.api.world import SeededOrg, anonymous_client, member_client

YEAR = 31_536_000
CHART_PAGES = ("/dashboard", "/dashboard/compressors/COMP-001")
PLAIN_PAGES = (
    "/dashboard/alerts",
    "/dashboard/data-quality",
    "/dashboard/settings",
)
PUBLIC = ("/", "/pricing", "/login", "/signup")


def _scripts(html: str) -> list[str]:
    return re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)


def _raw(client: httpx2.Client, url: str, **headers: str) -> tuple[httpx2.Response, bytes]:
    """The response and its body as sent (not decompressed), asking for gzip unless told otherwise."""
    request = client.build_request("GET", url, headers={"Accept-Encoding": "gzip", **headers})
    response = client.send(request, stream=True)
    body = b"".join(response.iter_raw())
    response.close()
    return response, body


@pytest.mark.parametrize("asset", ["app.js", "app.css", "vendor/htmx-2.0.11.min.js"])
def test_versioned_text_assets_are_compressed_and_immutable(app: FastAPI, asset: str) -> None:
    client = anonymous_client(app)
    url = static(asset)
    response, body = _raw(client, url)
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"].lower() == "accept-encoding"
    cache = {part.strip() for part in response.headers["cache-control"].split(",")}
    assert {"public", f"max-age={YEAR}", "immutable"} <= cache
    original = (STATIC_DIR / asset).read_bytes()
    assert gzip.decompress(body) == original
    assert len(body) < len(original) * 0.5
    # A client that does not take gzip gets the file itself.
    plain, plain_body = _raw(client, url, **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain_body == original


def test_unversioned_or_stale_urls_are_revalidated_and_answer_304(app: FastAPI) -> None:
    client = anonymous_client(app)
    for url in ("/static/app.css", "/static/app.css?v=0123456789"):
        response, _ = _raw(client, url)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache", url
        again, empty = _raw(client, url, **{"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304 and empty == b""
    missing, _ = _raw(client, "/static/nothing-here.js")
    assert missing.status_code == 404


def test_echarts_only_on_pages_that_draw_charts(app: FastAPI, org_a: SeededOrg) -> None:
    member = member_client(app, org_a.users[Role.VIEWER])
    bundles = set()
    for path in CHART_PAGES:
        charts = [src for src in _scripts(member.get(path).text) if "echarts" in src]
        assert len(charts) == 1, (path, charts)
        bundles.add(charts[0])
    for path in PLAIN_PAGES:
        assert not [src for src in _scripts(member.get(path).text) if "echarts" in src], path
    anonymous = anonymous_client(app)
    for path in PUBLIC:
        assert not [src for src in _scripts(anonymous.get(path).text) if "echarts" in src], path
    # The bundle holds the chart types the pages use, not the whole library (1.03 MB minified).
    (bundle,) = bundles
    response, body = _raw(anonymous, bundle)
    assert response.headers["content-encoding"] == "gzip"
    assert "immutable" in response.headers["cache-control"]
    size = len(gzip.decompress(body))
    assert size < 700_000, f"ECharts bundle {size:,} bytes: not a custom build"
    assert len(body) < 250_000, f"ECharts bundle {len(body):,} bytes gzipped"
