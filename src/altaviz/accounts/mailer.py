"""Sending e-mail over SMTP (smtplib), configured by the SMTP_* settings.

One message per call, plain text with an optional HTML part. The password is never logged; a
failure raises EmailFailed with a sentence that names the server but no secret.
"""

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from altaviz.config import Settings

log = logging.getLogger("altaviz.email")


class EmailNotConfigured(RuntimeError):
    """No SMTP_HOST: the service cannot send e-mail."""


class EmailFailed(RuntimeError):
    """The SMTP server refused the message or could not be reached."""


def email_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def send_email(settings: Settings, to: str, subject: str, text: str, html: str | None = None) -> str:
    """Send one message; returns its Message-ID."""
    if not settings.smtp_host:
        raise EmailNotConfigured("E-mail is not configured on this server (SMTP_HOST is not set)")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    domain = settings.smtp_from.rsplit("@", 1)[-1].strip("> ") or "altaviz.local"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
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
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        log.warning("e-mail to %s via %s:%d failed: %s", _masked(to), host, port, error.__class__.__name__)
        raise EmailFailed(
            f"The e-mail server {host}:{port} did not accept the message; try again later"
        ) from None
    log.info("e-mail sent to %s: %s", _masked(to), subject)
    return str(message["Message-ID"])


def _masked(address: str) -> str:
    """jane.doe@example.com → j***@example.com (logs need the domain, not the person)."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
