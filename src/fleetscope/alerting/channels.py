"""Sending one message to one channel: webhook (POST the Alertmanager body), e-mail (SMTP)
and apprise (the many services it reaches, by URL). Each raises ChannelError with the reason;
the caller records it in the outbox and retries."""

from __future__ import annotations

import json
import smtplib
import warnings
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import apprise
import httpx

from fleetscope.alerting.messages import text_of
from fleetscope.model.alerts import AppriseConfig, ChannelConfig, EmailConfig, WebhookConfig

IDEMPOTENCY_HEADER = "Idempotency-Key"


class ChannelError(Exception):
    pass


Sender = Callable[[ChannelConfig, dict[str, Any], str], None]


def send(config: ChannelConfig, body: dict[str, Any], key: str) -> None:
    """Deliver `body` (messages.webhook_body) through the channel; `key` is the message's
    idempotency key, passed on so a receiver can drop a resend."""
    try:
        if isinstance(config, WebhookConfig):
            _webhook(config, body, key)
        elif isinstance(config, EmailConfig):
            _email(config, body, key)
        else:
            _apprise(config, body)
    except (httpx.HTTPError, smtplib.SMTPException, OSError) as exc:
        raise ChannelError(f"{type(exc).__name__}: {exc}") from exc


def _webhook(config: WebhookConfig, body: dict[str, Any], key: str) -> None:
    response = httpx.post(
        config.url,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", IDEMPOTENCY_HEADER: key},
        timeout=config.timeout_seconds,
    )
    if response.status_code >= 300:
        raise ChannelError(f"webhook answered {response.status_code}: {response.text[:200]}")


def _email(config: EmailConfig, body: dict[str, Any], key: str) -> None:
    subject, text = text_of(body)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = config.sender
    message["To"] = ", ".join(config.to)
    # The same key gives the same Message-ID, so mail clients fold a resend into one.
    message["Message-ID"] = make_msgid(idstring=key, domain="fleetscope")
    message.set_content(text)
    with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.timeout_seconds) as smtp:
        if config.starttls:
            smtp.starttls()
        if config.username is not None:
            smtp.login(config.username, config.password or "")
        smtp.send_message(message)


def _apprise(config: AppriseConfig, body: dict[str, Any]) -> None:
    subject, text = text_of(body)
    notifier = apprise.Apprise()
    with warnings.catch_warnings():
        # apprise loads its plugins on first use; its e-mail plugin imports the stdlib's
        # imghdr, deprecated since Python 3.11 (PEP 594).
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        for url in config.urls:
            if not notifier.add(url):
                raise ChannelError(f"apprise does not understand the URL {url!r}")
    if not notifier.notify(body=text, title=subject):
        raise ChannelError("apprise: at least one service refused the message (see its log)")
