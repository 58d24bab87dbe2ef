"""Notifications: e-mail to a local SMTP server and signed webhooks to a local receiver, grouped per
compressor (group wait, group interval, repeat interval), retried on failure, never inside a workflow."""

import hashlib
import hmac
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from altaviz.accounts.scoping import OrgScope
from altaviz.notifications import service
from altaviz.notifications.models import NotificationMessage
from altaviz.notifications.senders import DELIVERY_HEADER, SIGNATURE_HEADER, DeliveryFailed, webhook_sender
from tests.team.smtp import Inbox, free_port, smtp_server
from tests.workflows.helpers import T0, Fleet


@dataclass
class Receiver:
    url: str
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, in order; then 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    port = free_port()
    state = Receiver(f"http://127.0.0.1:{port}/hooks/altaviz")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(state.statuses.pop(0) if state.statuses else 200)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_server() as server:
        yield server


def _channels(fleet: Fleet, receiver: Receiver | None = None, email: bool = False) -> dict[str, Any]:
    made: dict[str, Any] = {}
    with fleet.sessions() as session:
        scope = OrgScope(fleet.organization_id)
        if receiver is not None:
            made["webhook"] = service.create_channel(
                session, scope, kind="webhook", name="pager", target=receiver.url, created_by="t"
            )
        if email:
            made["email"] = service.create_channel(
                session,
                scope,
                kind="email",
                name="control room",
                target="ops@example.com, lead@example.com",
                created_by="t",
            )
        session.commit()
    return made


def _smtp(fleet: Fleet, inbox: Inbox, **more: Any) -> Fleet:
    fleet.settings = fleet.settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": inbox.port, "smtp_security": "none", **more}
    )
    return fleet


def _messages(fleet: Fleet) -> list[NotificationMessage]:
    with fleet.sessions() as session:
        return list(session.scalars(select(NotificationMessage).order_by(NotificationMessage.created_at)))


def _escalate_burst(fleet: Fleet) -> None:
    """Four warnings (three on COMP-001) escalated by one run at T0 + 4 h."""
    for condition in ("vibration_mms", "discharge_temp_f", "horsepower_consumption"):
        fleet.add_alert("COMP-001", condition=condition)
    fleet.add_alert("COMP-002")
    fleet.clock.set(T0 + timedelta(hours=4))
    assert fleet.run("escalation") == {"escalation": 4}


def test_a_burst_is_one_signed_message_per_compressor_and_channel(
    fleet: Fleet, inbox: Inbox, receiver: Receiver
) -> None:
    _smtp(fleet, inbox)
    channels = _channels(fleet, receiver, email=True)
    _escalate_burst(fleet)
    assert len(_messages(fleet)) == 4  # 2 compressors x 2 channels
    assert fleet.workflows().dispatch().sent == 0  # the group wait (30 s) has not passed
    fleet.clock.advance(seconds=30)
    report = fleet.workflows().dispatch()
    assert (report.sent, report.retried, report.failed) == (4, 0, 0)

    assert sorted(m["Subject"] for m in inbox.messages) == [
        "[Altaviz] COMP-001: 3 escalated alerts",
        "[Altaviz] COMP-002: 1 escalated alert",
    ]
    assert inbox.recipients[0] == ["ops@example.com", "lead@example.com"]
    assert "Escalated from warning to critical" in inbox.messages[0].get_content()

    secret = channels["webhook"].secret
    bodies = []
    for headers, body in receiver.requests:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers[SIGNATURE_HEADER.lower()], expected)
        assert headers["content-type"] == "application/json"
        payload = json.loads(body)
        assert headers[DELIVERY_HEADER.lower()] == payload["id"]
        bodies.append(payload)
    by_compressor = {b["compressorId"]: b for b in bodies}
    assert sorted(by_compressor) == ["COMP-001", "COMP-002"]
    assert [e["kind"] for e in by_compressor["COMP-001"]["events"]] == ["escalated"] * 3
    assert by_compressor["COMP-001"]["organizationId"] == str(fleet.organization_id)
    # A tampered body does not verify.
    assert not hmac.compare_digest(
        "sha256=" + hmac.new(secret.encode(), receiver.requests[0][1] + b" ", hashlib.sha256).hexdigest(),
        receiver.requests[0][0][SIGNATURE_HEADER.lower()],
    )
    assert all(m.status == "sent" and m.attempts == 1 for m in _messages(fleet))
    assert fleet.workflows().dispatch().sent == 0  # nothing is sent twice


def test_the_group_interval_holds_back_the_next_message(fleet: Fleet, receiver: Receiver) -> None:
    _channels(fleet, receiver)
    _escalate_burst(fleet)
    fleet.clock.advance(seconds=30)
    assert fleet.workflows().dispatch().sent == 2
    sent_at = fleet.clock.now
    # A new critical alert on COMP-001 a minute later: queued, but not before the 5-minute interval.
    fleet.clock.advance(minutes=1)
    fleet.add_alert("COMP-001", condition="gas_flow_mcf", severity="critical", raised_at=fleet.clock.now)
    assert fleet.workflows().execute("all", [fleet.organization_id], trigger="cli").notifications_queued == 1
    fleet.clock.advance(seconds=30)
    assert fleet.workflows().dispatch().sent == 0
    fleet.clock.set(sent_at + timedelta(minutes=5))
    assert fleet.workflows().dispatch().sent == 1
    last = json.loads(receiver.requests[-1][1])
    assert [(e["kind"], e["condition"]) for e in last["events"]] == [("critical", "gas_flow_mcf")]


def test_critical_alerts_are_notified_once_then_repeated_until_acknowledged(
    fleet: Fleet, receiver: Receiver
) -> None:
    _channels(fleet, receiver)
    for compressor in ("COMP-001", "COMP-002", "COMP-003"):  # reporting: no staleness alerts
        fleet.add_readings(compressor, T0, T0 + timedelta(hours=10))
    alert_id = fleet.add_alert("COMP-003", severity="critical", condition="vibration_mms")
    fleet.add_alert("COMP-002", severity="critical", is_active=False, returned_to_normal_at=T0)  # over
    fleet.add_alert("COMP-001", severity="critical", acknowledged=True, acknowledged_by="Ann")  # seen
    fleet.clock.set(T0 + timedelta(minutes=10))
    assert fleet.workflows().execute("all", [fleet.organization_id], trigger="cli").notifications_queued == 1
    assert fleet.workflows().execute("all", [fleet.organization_id], trigger="cli").notifications_queued == 0
    fleet.clock.advance(seconds=30)
    assert fleet.workflows().dispatch().sent == 1
    fleet.clock.advance(hours=4)  # the repeat interval
    assert fleet.workflows().execute("all", [fleet.organization_id], trigger="cli").notifications_queued == 1
    fleet.clock.advance(seconds=30)
    assert fleet.workflows().dispatch().sent == 1
    assert [e["kind"] for e in json.loads(receiver.requests[-1][1])["events"]] == ["repeat"]
    with fleet.sessions() as session:
        from altaviz.alerts import service as alerts

        alerts.acknowledge(session, OrgScope(fleet.organization_id), alert_id, "Ann", now=fleet.clock.now)
        session.commit()
    fleet.clock.advance(hours=5)
    assert fleet.workflows().execute("all", [fleet.organization_id], trigger="cli").notifications_queued == 0


def test_failed_deliveries_are_retried_with_back_off_then_given_up(fleet: Fleet, receiver: Receiver) -> None:
    _channels(fleet, receiver)
    receiver.statuses = [500, 503]
    _escalate_burst(fleet)
    fleet.clock.advance(seconds=30)
    report = fleet.workflows().dispatch()
    assert (report.sent, report.retried) == (0, 2) and "HTTP 500" in report.errors[0]
    message = _messages(fleet)[0]
    assert message.status == "pending" and message.attempts == 1 and message.last_error
    fleet.clock.advance(seconds=29)
    assert fleet.workflows().dispatch().sent == 0  # first retry after 30 s
    fleet.clock.advance(seconds=1)
    assert fleet.workflows().dispatch().sent == 2
    assert len(receiver.requests) == 4  # 2 refused + 2 delivered, the same delivery ids again
    assert {h[DELIVERY_HEADER.lower()] for h, _ in receiver.requests[:2]} == {
        h[DELIVERY_HEADER.lower()] for h, _ in receiver.requests[2:]
    }

    receiver.statuses = [500] * 10
    fleet.clock.advance(hours=5)
    fleet.add_alert("COMP-003", severity="critical", raised_at=fleet.clock.now)
    strict = {"notify_max_attempts": 2, "notify_repeat_interval_hours": 100}  # no reminders here
    fleet.workflows(**strict).execute("all", [fleet.organization_id], trigger="cli")
    fleet.clock.advance(seconds=30)
    assert fleet.workflows(**strict).dispatch().retried == 1
    fleet.clock.advance(seconds=30)
    report = fleet.workflows(**strict).dispatch()
    assert report.failed == 1
    failed = [m for m in _messages(fleet) if m.compressor_id == "COMP-003"]
    assert [(m.status, m.attempts) for m in failed] == [("failed", 2)]


def test_delivery_never_happens_inside_a_workflow(fleet: Fleet) -> None:
    with fleet.sessions() as session:  # a webhook nobody listens on, and e-mail without SMTP_HOST
        scope = OrgScope(fleet.organization_id)
        service.create_channel(
            session,
            scope,
            kind="webhook",
            name="x",
            target=f"http://127.0.0.1:{free_port()}/",
            created_by="t",
        )
        service.create_channel(
            session, scope, kind="email", name="y", target="ops@example.com", created_by="t"
        )
        session.commit()
    _escalate_burst(fleet)  # succeeds: delivery is not its business
    assert all(m.attempts == 0 and m.status == "pending" for m in _messages(fleet))
    fleet.clock.advance(seconds=30)
    report = fleet.workflows().dispatch()
    assert report.sent == 0 and report.retried == 4
    assert any("SMTP_HOST is not set" in e for e in report.errors)
    assert any("could not be reached" in e for e in report.errors)


def test_two_dispatchers_at_once_send_each_message_once(
    fleet: Fleet, receiver: Receiver, db_backend: str
) -> None:
    if db_backend != "postgresql":
        pytest.skip("SQLite serializes writers; concurrent dispatchers are a PostgreSQL deployment's case")
    _channels(fleet, receiver)
    for index in range(1, 4):
        fleet.add_alert(f"COMP-00{index}")
    fleet.clock.set(T0 + timedelta(hours=4))
    fleet.run("escalation")
    fleet.clock.advance(seconds=30)
    reports: list[service.DispatchReport] = []
    threads = [
        threading.Thread(target=lambda: reports.append(fleet.workflows().dispatch())) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(r.sent for r in reports) == 3
    assert sorted(json.loads(body)["compressorId"] for _, body in receiver.requests) == [
        "COMP-001",
        "COMP-002",
        "COMP-003",
    ]


def test_production_servers_do_not_call_loopback_or_metadata_addresses(
    fleet: Fleet, receiver: Receiver
) -> None:
    from altaviz.notifications.senders import refused_address

    assert refused_address("http://169.254.169.254/latest/meta-data/") is not None
    assert refused_address("http://127.0.0.1:9/") is not None
    assert refused_address("https://10.20.30.40/hooks") is None  # on-premises receivers are fine
    _channels(fleet, receiver)
    fleet.settings = fleet.settings.model_copy(update={"env": "production"})
    _escalate_burst(fleet)
    fleet.clock.advance(seconds=30)
    report = fleet.workflows().dispatch()
    assert report.sent == 0 and report.retried == 2
    assert all("Webhook refused: 127.0.0.1 resolves to 127.0.0.1" in e for e in report.errors)
    assert receiver.requests == []


class _Recorder:
    """A local HTTP server that records the requests it gets and answers with `status` (and
    `location`, for a redirect)."""

    def __init__(self, host: str, port: int, status: int = 200, location: str | None = None) -> None:
        self.requests: list[dict[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                recorder.requests.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST  # a followed 303 would come as a GET

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _one_message() -> tuple[Any, NotificationMessage]:
    from altaviz.notifications.models import NotificationChannel

    channel = NotificationChannel(kind="webhook", name="pager", target="", secret="s3cret")
    message = NotificationMessage(
        id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        compressor_id="COMP-001",
        events=[{"kind": "critical", "alertId": 1, "severity": "critical"}],
    )
    return channel, message


def test_webhook_redirects_are_not_followed(fleet: Fleet) -> None:
    port = free_port()
    internal = _Recorder("127.0.0.1", free_port())
    for status in (301, 302, 303, 307, 308):
        redirecting = _Recorder(
            "127.0.0.1", port, status, f"http://127.0.0.1:{internal.server.server_port}/x"
        )
        try:
            channel, message = _one_message()
            channel.target = f"http://127.0.0.1:{port}/hooks"
            with pytest.raises(DeliveryFailed, match=f"HTTP {status} \\(a redirect, which is not followed"):
                webhook_sender(fleet.settings)(channel, message)
            assert len(redirecting.requests) == 1
        finally:
            redirecting.close()
    internal.close()
    assert internal.requests == []  # never reached through a redirect


def test_webhooks_connect_to_the_address_that_was_checked(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DNS answer that changes between the check and the connection (rebinding) is not followed:
    the host is resolved once and the connection goes to the checked address."""
    port = free_port()
    public, internal = _Recorder("127.0.0.1", port), _Recorder("127.0.0.2", port)
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])  # the first answer; every later one is the internal address

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example.test":
            return real(next(answers, "127.0.0.2"), *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)

    def refuse(address: Any) -> str | None:
        return "an internal address" if str(address) == "127.0.0.2" else None

    try:
        channel, message = _one_message()
        channel.target = f"http://hooks.example.test:{port}/hooks"
        webhook_sender(fleet.settings, refuse=refuse)(channel, message)
        assert internal.requests == []
        assert len(public.requests) == 1
        assert public.requests[0]["host"] == f"hooks.example.test:{port}"  # the name, not the address
        # Once the name resolves to the refused address, nothing is sent there either.
        with pytest.raises(DeliveryFailed, match=r"resolves to 127\.0\.0\.2, an internal address"):
            webhook_sender(fleet.settings, refuse=refuse)(channel, message)
        assert internal.requests == []
    finally:
        public.close()
        internal.close()
