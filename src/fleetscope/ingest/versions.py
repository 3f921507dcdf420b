"""Fields from agents newer than this server: accepted and ignored (model/payload.py,
"Versioning"), and said once per agent version, so that whoever runs the fleet learns that the
server should be upgraded to keep what those agents send."""

from __future__ import annotations

import json
import logging
import threading

from fleetscope.model.compat import unknown_fields

log = logging.getLogger(__name__)

# Versions remembered; past this many (a fleet does not run thousands of agent versions, a
# client making them up does) nothing more is checked.
MAX_VERSIONS = 1000


class UnknownFieldLog:
    """The first payload of each agent version is walked for fields this server does not know
    (a full JSON parse, so not every payload); they are logged once, with the version."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def check(self, agent_version: str, body: bytes) -> None:
        with self._lock:
            if agent_version in self._seen or len(self._seen) >= MAX_VERSIONS:
                return
            self._seen.add(agent_version)
        ignored = unknown_fields(json.loads(body))
        if ignored:
            log.warning(
                "agents of version %s send fields this server does not know, ignored (upgrade "
                "the server to keep them): %s",
                agent_version,
                ", ".join(ignored),
            )
