"""Delivering one notification message: e-mail over SMTP, or a signed HTTP webhook.

Webhook requests carry the JSON body and, in `X-Altaviz-Signature`, `sha256=<hex>`: the HMAC-SHA256
of the exact body bytes keyed with the channel's secret (compare it in constant time, e.g.
`hmac.compare_digest`). `X-Altaviz-Delivery` is the message id (the same on every retry, so a receiver
can drop duplicates) and the body's `sentAt` lets it refuse old replays. Any 2xx answer is a success.
"""

import hashlib
import hmac
import ipaddress
import json
import smtplib
import socket
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from altaviz.config import Settings
from altaviz.notifications.models import NotificationChannel, NotificationMessage

SIGNATURE_HEADER = "X-Altaviz-Signature"
DELIVERY_HEADER = "X-Altaviz-Delivery"
EVENT_HEADER = "X-Altaviz-Event"

Sender = Callable[[NotificationChannel, NotificationMessage], None]


class DeliveryFailed(RuntimeError):
    """The channel did not take the message (a sentence, no secrets); it will be retried."""


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _summary(message: NotificationMessage) -> str:
    kinds = [event.get("kind") for event in message.events]
    escalated = kinds.count("escalated")
    critical = kinds.count("critical")
    repeat = kinds.count("repeat")
    early = kinds.count("early_warning")
    parts = []
    if critical:
        parts.append(f"{critical} new critical")
    if escalated:
        parts.append(f"{escalated} escalated")
    if repeat:
        parts.append(f"{repeat} still unacknowledged")
    if early:
        parts.append(f"{early} early warning")
    return f"{message.compressor_id}: " + ", ".join(parts) + (" alert" if len(kinds) == 1 else " alerts")


def payload(channel: NotificationChannel, message: NotificationMessage, settings: Settings) -> dict[str, Any]:
    link = f"{settings.public_url}/alerts?compressor={message.compressor_id}" if settings.public_url else None
    return {
        "version": 1,
        "id": str(message.id),
        "organizationId": str(message.organization_id),
        "compressorId": message.compressor_id,
        "summary": _summary(message),
        "events": message.events,
        "link": link,
        "sentAt": datetime.now(UTC).isoformat(),
    }


def email_sender(settings: Settings) -> Sender:
    def send(channel: NotificationChannel, message: NotificationMessage) -> None:
        if not settings.smtp_host:
            raise DeliveryFailed("E-mail is not configured on this server (SMTP_HOST is not set)")
        recipients = [address.strip() for address in channel.target.split(",") if address.strip()]
        body = payload(channel, message, settings)
        email = EmailMessage()
        email["From"] = settings.smtp_from
        email["To"] = ", ".join(recipients)
        email["Subject"] = f"[Altaviz] {body['summary']}"
        domain = settings.smtp_from.rsplit("@", 1)[-1].strip("> ") or "altaviz.local"
        email["Message-ID"] = make_msgid(domain=domain)
        email["X-Altaviz-Delivery"] = str(message.id)
        lines = [body["summary"], ""]
        for event in message.events:
            lines.append(
                f"- [{str(event.get('severity', '')).upper()}] alert #{event.get('alertId')} "
                f"{event.get('condition')}: {event.get('message')} ({event.get('kind')}, {event.get('at')})"
            )
        if body["link"]:
            lines += ["", f"Open the alerts: {body['link']}"]
        lines += ["", "Acknowledge the alerts to stop repeat notifications."]
        email.set_content("\n".join(lines))
        host, port, timeout = settings.smtp_host, settings.smtp_port, settings.smtp_timeout_seconds
        try:
            smtp: smtplib.SMTP
            if settings.smtp_security == "ssl":
                smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
            with smtp:
                if settings.smtp_security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if settings.smtp_username:
                    password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                    smtp.login(settings.smtp_username, password)
                smtp.send_message(email, to_addrs=recipients)
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryFailed(
                f"The e-mail server {host}:{port} did not take the message ({error.__class__.__name__})"
            ) from None

    return send


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Refuse = Callable[[Address], str | None]


def production_refusal(address: Address) -> str | None:
    """Why a production server does not call this address, or None.

    Loopback, link-local (cloud metadata services live at 169.254.169.254), multicast, reserved and
    unspecified addresses are refused; private networks are allowed (on-premises receivers)."""
    if address.is_loopback or address.is_link_local or address.is_multicast or address.is_reserved:
        return "which a production server does not call"
    if address.is_unspecified:
        return "which a production server does not call"
    return None


def resolve(host: str, port: int) -> list[Address]:
    """The host's addresses (looked up once per delivery: the connection goes to what was checked)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def refused_address(url: str, refuse: Refuse = production_refusal) -> str | None:
    """Why a webhook address must not be called, or None (an unresolvable host: None, the delivery
    fails and is retried)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return "the address has no host"
    try:
        addresses = resolve(parts.hostname, parts.port or 443)
    except OSError:
        return None
    return _first_refusal(parts.hostname, addresses, refuse)


def _first_refusal(host: str, addresses: list[Address], refuse: Refuse) -> str | None:
    for address in addresses:
        if reason := refuse(address):
            return f"{host} resolves to {address}, {reason}"
    return None


def _allow_all(_: Address) -> None:
    return None


def webhook_sender(settings: Settings, refuse: Refuse | None = None) -> Sender:
    """Posts signed messages to webhook channels.

    The host is resolved once, every address checked (in production: no loopback, link-local,
    metadata, multicast or reserved address), and the connection made to the checked address, the
    Host header and TLS server name (SNI, certificate check) still the channel's host, so a DNS answer
    that changes between check and connect (rebinding) cannot send it elsewhere. Redirects are not
    followed: a 3xx is a failed delivery naming the status (point the channel at the final address).
    """
    if refuse is None:
        refuse = production_refusal if settings.env == "production" else _allow_all

    def send(channel: NotificationChannel, message: NotificationMessage) -> None:
        parts = urlsplit(channel.target)
        host = parts.hostname
        if not host:
            raise DeliveryFailed("Webhook refused: the address has no host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = resolve(host, port)
        except OSError as error:
            raise DeliveryFailed(
                f"The webhook's host {host} could not be resolved ({error.__class__.__name__})"
            ) from None
        if not addresses:
            raise DeliveryFailed(f"The webhook's host {host} has no address")
        if reason := _first_refusal(host, addresses, refuse):
            raise DeliveryFailed(f"Webhook refused: {reason}")
        pinned = addresses[0]
        shown = f"[{pinned}]" if pinned.version == 6 else str(pinned)
        url = urlunsplit((parts.scheme, f"{shown}:{port}", parts.path or "/", parts.query, ""))
        body = json.dumps(payload(channel, message, settings), sort_keys=True).encode()
        headers = {
            "Host": parts.netloc.rsplit("@", 1)[-1],
            "Content-Type": "application/json",
            "User-Agent": "Altaviz-Webhook/1",
            SIGNATURE_HEADER: sign(channel.secret or "", body),
            DELIVERY_HEADER: str(message.id),
            EVENT_HEADER: "alerts",
        }
        try:
            # trust_env=False: no proxy from the environment (the proxy would connect by name again)
            with httpx.Client(
                timeout=settings.notify_timeout_seconds, follow_redirects=False, trust_env=False
            ) as client:
                response = client.post(url, content=body, headers=headers, extensions={"sni_hostname": host})
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"The webhook could not be reached ({error.__class__.__name__})") from None
        status = response.status_code
        if 300 <= status < 400:
            raise DeliveryFailed(
                f"The webhook answered HTTP {status} (a redirect, which is not followed: point the channel "
                "at the final address)"
            )
        if not 200 <= status < 300:
            raise DeliveryFailed(f"The webhook answered HTTP {status}")

    return send


def default_senders(settings: Settings) -> dict[str, Sender]:
    return {"email": email_sender(settings), "webhook": webhook_sender(settings)}
