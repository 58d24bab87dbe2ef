"""A local HTTP stand-in for the Stripe API, started by the tests (the stripe library's API base is
pointed at it). It records every request it receives and answers like Stripe for the three calls
Altaviz makes: create customer, create Checkout session, create billing-portal session."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class StubRequest:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class StripeStub:
    url: str = ""
    requests: list[StubRequest] = field(default_factory=list)
    fail_with: int | None = None  # answer every call with this status and a Stripe error body
    customers: int = 0

    def calls(self, path: str) -> list[StubRequest]:
        return [r for r in self.requests if r.path == path]


def _handler(stub: StripeStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            stub.requests.append(
                StubRequest(
                    "POST",
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    dict(parse_qsl(body, keep_blank_values=True)),
                )
            )
            if stub.fail_with is not None:
                self._answer(
                    stub.fail_with,
                    {"error": {"type": "invalid_request_error", "message": "No such price: 'price_x'"}},
                )
                return
            if self.path == "/v1/customers":
                stub.customers += 1
                self._answer(200, {"id": f"cus_stub_{stub.customers}", "object": "customer"})
            elif self.path == "/v1/checkout/sessions":
                self._answer(
                    200,
                    {
                        "id": "cs_test_stub",
                        "object": "checkout.session",
                        "url": "https://checkout.stripe.test/c/pay/cs_test_stub",
                    },
                )
            elif self.path == "/v1/billing_portal/sessions":
                self._answer(
                    200,
                    {
                        "id": "bps_stub",
                        "object": "billing_portal.session",
                        "url": "https://billing.stripe.test/p/session/bps_stub",
                    },
                )
            else:
                self._answer(404, {"error": {"type": "invalid_request_error", "message": "unknown path"}})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_stub")
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def running_stub() -> Iterator[StripeStub]:
    stub = StripeStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
