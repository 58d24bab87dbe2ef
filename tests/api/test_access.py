"""Who may call what: 401 without credentials, the role matrix, and no reach across organizations."""

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response

from altaviz.accounts.roles import Role
from tests.api.routes import PROTECTED, ROUTES, Route
from tests.api.world import PASSWORD, SeededOrg, anonymous_client, key_client, member_client, open_client

ROLES = (Role.VIEWER, Role.OPERATOR, Role.ADMIN, Role.OWNER)
KEY_ROLES = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)


def call(
    client: TestClient,
    route: Route,
    url: str,
    org: SeededOrg | None = None,
    foreign: SeededOrg | None = None,
    **params: str,
) -> Response:
    """`route` at `url`, its body naming `org`'s objects (or `foreign`'s)."""
    if org is not None:
        body = route.json(org, foreign)
    else:
        body = dict(route.body) if route.body is not None else None
    if route.path == "/api/auth/password" and body is not None:
        body["current_password"] = PASSWORD
    return client.request(route.method, url, params={**route.params, **params}, json=body)


def test_route_table_is_complete(app: FastAPI) -> None:
    served = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }
    declared = {(route.method, route.path) for route in ROUTES}
    assert served == declared, "declare new routes (and their least role) in tests/api/routes.py"


def test_protected_routes_answer_401_without_valid_credentials(app: FastAPI, org_a: SeededOrg) -> None:
    clients = (
        anonymous_client(app),
        open_client(app, {"Cookie": "__Host-altaviz_session=forged"}),
        key_client(app, "avz_" + "x" * 43),
    )
    for route in PROTECTED:
        for client in clients:
            response = call(client, route, route.url(org_a), org_a)
            assert response.status_code == 401, (route, response.text)
            assert response.json()["code"] == "unauthorized"
            assert "www-authenticate" in response.headers


def test_role_matrix_for_members(app: FastAPI, org_a: SeededOrg) -> None:
    for role in ROLES:
        client = member_client(app, org_a.users[role])
        for route in PROTECTED:
            response = call(client, route, route.url(org_a), org_a)
            assert route.min_role is not None
            if role.at_least(route.min_role):
                assert response.status_code not in (401, 403), (role, route, response.text)
                assert response.status_code < 500 or response.status_code in route.tolerated, (
                    role,
                    route,
                    response.text,
                )
            else:
                assert response.status_code == 403, (role, route, response.text)
                assert f"{route.min_role.value.title()} access required" in response.json()["error"]


def test_role_matrix_for_api_keys(app: FastAPI, org_a: SeededOrg) -> None:
    for role in KEY_ROLES:
        client = key_client(app, org_a.api_keys[role])
        for route in PROTECTED:
            if route.path == "/api/auth/password":
                continue  # members only; checked below
            response = call(client, route, route.url(org_a), org_a)
            assert route.min_role is not None
            allowed = role.at_least(route.min_role) and not route.members_only
            if allowed:
                assert response.status_code not in (401, 403), (role, route, response.text)
            else:
                assert response.status_code == 403, (role, route, response.text)
    response = key_client(app, org_a.api_keys[Role.ADMIN]).post(
        "/api/auth/password", json={"current_password": PASSWORD, "new_password": "another long phrase 7"}
    )
    assert response.status_code == 403


def _assert_no_foreign_data(response: Response, foreign: SeededOrg) -> None:
    assert foreign.marker not in response.text, response.text
    assert str(foreign.id) not in response.text


@pytest.mark.parametrize("actor", ["owner-session", "admin-key"])
def test_no_route_reads_or_writes_another_organization(
    app: FastAPI, org_a: SeededOrg, org_b: SeededOrg, actor: str
) -> None:
    client = (
        member_client(app, org_a.users[Role.OWNER])
        if actor == "owner-session"
        else key_client(app, org_a.api_keys[Role.ADMIN])
    )
    for route in PROTECTED:
        if route.has_object:
            response = call(client, route, route.url(org_a, foreign=org_b), org_a, org_b)
            if not (route.members_only and actor == "admin-key"):
                assert response.status_code == 404, (route, response.text)
            _assert_no_foreign_data(response, org_b)
        response = call(client, route, route.url(org_a), org_a)
        assert response.status_code < 500 or response.status_code in route.tolerated, (route, response.text)
        _assert_no_foreign_data(response, org_b)
        if route.method == "GET" and not route.has_object:
            filtered = call(client, route, route.url(org_a), org_a, compressor=org_b.own_compressor)
            _assert_no_foreign_data(filtered, org_b)

    # The same compressor id exists in both organizations: each sees its own.
    detail = client.get("/api/compressors/COMP-001").json()
    assert detail["station"]["station_name"].startswith(org_a.marker)

    # Nothing of B changed: its alert, its keys, its name.
    b_viewer = key_client(app, org_b.api_keys[Role.VIEWER])
    alert = b_viewer.get(f"/api/alerts/{org_b.alert_ids['critical']}").json()
    assert alert["acknowledged"] is False and alert["resolved"] is False
    assert b_viewer.get("/api/organization").json()["name"] == f"{org_b.marker} Gas"
    keys = member_client(app, org_b.users[Role.ADMIN]).get("/api/api-keys").json()["items"]
    assert all(key["revoked_at"] is None for key in keys)


def test_list_answers_hold_only_the_callers_rows(app: FastAPI, org_a: SeededOrg, org_b: SeededOrg) -> None:
    client = key_client(app, org_a.api_keys[Role.VIEWER])
    fleet = client.get("/api/fleet").json()
    assert {row["compressor_id"] for row in fleet["items"]} == set(org_a.compressors)
    assert fleet["summary"]["compressors"] == len(org_a.compressors)
    alerts = client.get("/api/alerts", params={"limit": 200}).json()
    assert {row["id"] for row in alerts["items"]} == set(org_a.alert_ids.values())
    everything = json.dumps(
        [client.get(path).json() for path in ("/api/stations", "/api/maintenance", "/api/data-quality")]
    )
    assert org_b.marker not in everything and org_a.marker in everything
