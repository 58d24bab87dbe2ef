"""Uvicorn's HTTP protocol, answering requests it cannot parse in the API's JSON error format.

A request line or headers over the HTTP parser's own limits (about 64 KB with httptools, 16 KB with
h11's default incomplete-event size) never reach the application: Uvicorn answers them itself with
a plain-text 400 "Invalid HTTP request received.". `altaviz serve` runs Uvicorn with this protocol
class instead (`--http altaviz.api.http_protocol:JsonErrorHttpProtocol` for a hand-run Uvicorn), so
that answer is `{"error": ..., "code": "invalid_http_request", "requestId": ...}` too. Addresses
between the application's MAX_URL_BYTES and the parser's limit get the application's 414
(api/middleware.py).
"""

import json
import uuid

from uvicorn.protocols.http.h11_impl import H11Protocol

INVALID_REQUEST = (
    "The request could not be read as HTTP: its address or headers are too long, or it is malformed. "
    "Send long parameters in a request body."
)


def _json_400() -> bytes:
    body = json.dumps(
        {"error": INVALID_REQUEST, "code": "invalid_http_request", "requestId": uuid.uuid4().hex}
    ).encode()
    head = (
        b"HTTP/1.1 400 Bad Request\r\n"
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"x-content-type-options: nosniff\r\n"
        b"cache-control: no-store\r\n"
        b"connection: close\r\n\r\n"
    )
    return head + body


class JsonErrorH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        self.transport.write(_json_400())
        self.transport.close()


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not installed: Uvicorn's "auto" would pick h11 too
    JsonErrorHttpProtocol: type = JsonErrorH11Protocol
else:

    class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            self.transport.write(_json_400())
            self.transport.close()

    JsonErrorHttpProtocol = JsonErrorHttpToolsProtocol
