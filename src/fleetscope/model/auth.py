"""Who is calling: the identity ingest and the read side agree on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: int
    kind: Literal["agent_key", "user"]
    subject: str  # the key's name or the username, for logs and audit
