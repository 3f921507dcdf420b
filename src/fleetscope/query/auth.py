"""Login and session checks for the read side (API, dashboard, CLI)."""

from __future__ import annotations

from sqlalchemy import Engine

from fleetscope.model.auth import Principal
from fleetscope.store import auth as store_auth


class AuthService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def login(self, username: str, password: str) -> str | None:
        return store_auth.login(self.engine, username, password)

    def verify_token(self, token: str) -> Principal | None:
        return store_auth.verify_session(self.engine, token)

    def is_agent_key(self, token: str) -> bool:
        """Whether `token` is a live agent API key: such a caller is known but may only send
        data, so the read side answers it 403 rather than 401."""
        return store_auth.verify_api_key(self.engine, token) is not None

    def logout(self, token: str) -> bool:
        return store_auth.logout(self.engine, token)
