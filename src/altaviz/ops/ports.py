"""Can the service listen where it is told to? Checked before Uvicorn starts (issue 18 item 20).

Uvicorn reports an address in use as `[Errno 98] error while attempting to bind ...` and exits 3;
`altaviz serve` checks first, the way Uvicorn binds (SO_REUSEADDR, so a port only in TIME_WAIT is
free), and stops with one line naming the port and how to choose another.
"""

import errno
import socket


class PortUnavailable(RuntimeError):
    """The service cannot listen on the address and port it was given."""


def check_port(host: str, port: int) -> None:
    """Raise PortUnavailable, in words an operator can act on, unless `host:port` can be listened on."""
    choose = "choose another with --port N or ALTAVIZ_PORT"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortUnavailable(
            f"cannot listen on {host!r}: {exc.strerror}; name a local address with --host or ALTAVIZ_HOST"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortUnavailable(
                    f"port {port} on {host} is already in use (another altaviz serve?): "
                    f"stop that, or {choose}"
                ) from None
            if exc.errno == errno.EACCES:
                raise PortUnavailable(
                    f"not allowed to listen on port {port} on {host} "
                    f"(ports below 1024 need privileges): {choose}"
                ) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise PortUnavailable(
                    f"{host} is not an address of this machine: name a local one with --host or ALTAVIZ_HOST"
                ) from None
            raise PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror}; {choose}") from None
