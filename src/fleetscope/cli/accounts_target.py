"""Which store or server `fleetscope admin tenants|users|keys|collectors` (cli/accounts.py)
act on, the options that name it, and how results are printed.

Direct mode (--data-dir, --database, --config, found as `fleetscope server` finds them):
cli/accounts_direct.py on the store; an empty data directory is created and migrated for a
command that writes (the first superuser). Server mode (--server URL --token TOKEN, or
FLEETSCOPE_SERVER and FLEETSCOPE_TOKEN): cli/accounts_remote.py over HTTP. Giving both is an
error, as is --server without a token."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol

import typer

from fleetscope.cli.accounts_common import AdminError, Record, Records, as_json, table
from fleetscope.cli.options import ADMIN_ENV, load_settings
from fleetscope.model.auth import Role, Scope

# Types only: store.collectors imports SQLAlchemy, which `fleetscope agent` (this module is
# imported by every command through cli/main.py -> cli/admin.py) must not pay for on a host.
if TYPE_CHECKING:
    import httpx

    from fleetscope.store.collectors import CollectorChanges, CollectorDetails

GENERATED_PASSWORD_BYTES = 18  # as the first start's admin password (store/auth.py)
# The API's minimum for a new password (web/account_schemas.py NewPassword, NIST SP 800-63B),
# held in direct mode too: a recovery is no reason for a weaker admin password.
MIN_PASSWORD_CHARS = 8
DAY_MS = 86_400_000

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="the server's data directory (direct mode)")
]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="the server's TOML settings file (direct mode)")
]
ServerUrl = Annotated[
    str | None,
    typer.Option(
        "--server", envvar=ADMIN_ENV[0], help="a running server's URL, e.g. http://host:8080"
    ),
]
Token = Annotated[
    str | None,
    typer.Option("--token", envvar=ADMIN_ENV[1], help="a user session's token (with --server)"),
]
Json = Annotated[bool, typer.Option("--json", help="JSON for scripts instead of a table")]
TenantOption = Annotated[
    str | None,
    typer.Option(
        "--tenant", help="tenant name or id [default: the default tenant, or the token's]"
    ),
]


class Accounts(Protocol):
    """What cli/accounts_direct.py and cli/accounts_remote.py both answer."""

    def close(self) -> None: ...
    def tenants(self) -> Records: ...
    def create_tenant(self, name: str) -> Record: ...
    def update_tenant(self, given: str, *, name: str | None, active: bool | None) -> Record: ...
    def users(self, tenant: str | None) -> Records: ...
    def create_user(
        self, username: str, password: str, role: Role, *, tenant: str | None, superuser: bool
    ) -> Record: ...
    def update_user(
        self,
        given: str,
        *,
        tenant: str | None,
        role: Role | None,
        disabled: bool | None,
        password: str | None,
        superuser: bool | None,
    ) -> Record: ...
    def keys(self, tenant: str | None, *, include_revoked: bool) -> Records: ...
    def create_key(
        self,
        name: str,
        scope: Scope,
        *,
        tenant: str | None,
        machine_id: str | None,
        expires_ms: int | None,
    ) -> Record: ...
    def revoke_key(self, key_id: int, *, tenant: str | None) -> Record: ...
    def collectors(self, tenant: str | None, *, site: str | None) -> Records: ...
    def create_collector(
        self, machine: str, details: CollectorDetails, *, tenant: str | None
    ) -> Record: ...
    def update_collector(
        self, collector_id: int, changes: CollectorChanges, *, tenant: str | None
    ) -> Record: ...


# Tests pass `obj=ClientFactory` to CliRunner.invoke to reach an in-process app (an
# httpx.Client on it) instead of the network: (base URL, token) -> client.
ClientFactory = Callable[[str, str], "httpx.Client"]


@dataclass(frozen=True, slots=True)
class Target:
    data_dir: Path | None
    database: str | None
    config: Path | None
    server: str | None
    token: str | None


def _http_client(base_url: str, token: str) -> httpx.Client:
    import httpx  # here, not at the top: every command, the agent too, imports this module

    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _open(ctx: typer.Context, target: Target, *, writes: bool) -> Accounts:
    direct = target.data_dir is not None or target.database is not None or target.config
    if target.server is not None:
        if direct:
            raise AdminError(
                "give --server (a running server) or --data-dir/--database/--config "
                "(the store directly), not both",
                2,
            )
        if not target.token:
            raise AdminError("--server needs --token (or FLEETSCOPE_TOKEN)", 2)
        from fleetscope.cli.accounts_remote import RemoteAccounts

        factory: ClientFactory = ctx.find_root().obj or _http_client
        return RemoteAccounts(factory(target.server.rstrip("/"), target.token))
    return _open_store(target, writes=writes)


def _open_store(target: Target, *, writes: bool) -> Accounts:
    # Heavy imports (SQLAlchemy, alembic) only for direct mode.
    from fleetscope.cli.accounts_direct import DirectAccounts
    from fleetscope.cli.settings import ServerSettings
    from fleetscope.cli.startup import make_private
    from fleetscope.cli.wiring import database_url
    from fleetscope.store.engine import make_engine, migrate
    from fleetscope.store.startup import startup_turn

    settings = load_settings(
        ServerSettings, target.config, data_dir=target.data_dir, database_url=target.database
    )
    if settings.database_url is None and not (settings.data_dir / "fleetscope.db").exists():
        if not writes:
            raise AdminError(
                f"no fleetscope database in {settings.data_dir} (give --data-dir, --database "
                "or --config as the server has them, or --server)",
                1,
            )
        make_private(settings.data_dir)  # the first superuser on an empty data directory
    engine = make_engine(database_url(settings))
    with startup_turn(engine):  # not while a server starting beside it migrates
        migrate(engine)  # as the server does at start: a store of an older release is brought up
    return DirectAccounts(engine)


@contextlib.contextmanager
def accounts_for(ctx: typer.Context, target: Target, *, writes: bool) -> Iterator[Accounts]:
    """The accounts the options name; any AdminError or database failure as one line on
    stderr and its exit code."""
    from fleetscope.cli.startup import start_errors

    try:
        with start_errors(target.database):
            opened = _open(ctx, target, writes=writes)
            try:
                yield opened
            finally:
                opened.close()
    except AdminError as exc:
        typer.echo(f"fleetscope: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None


def usage_error(message: str) -> typer.Exit:
    typer.echo(f"fleetscope: {message}", err=True)
    return typer.Exit(2)


def show(resource: str, records: Records | Record, as_json_output: bool) -> None:
    if as_json_output:
        typer.echo(as_json(records))
    else:
        typer.echo(table(resource, records if isinstance(records, list) else [records]))


def new_password(given: str | None) -> tuple[str, bool]:
    """The password given, or a generated one (True: print it, once)."""
    if given is not None:
        if len(given) < MIN_PASSWORD_CHARS:
            raise usage_error(f"--password must be at least {MIN_PASSWORD_CHARS} characters")
        return given, False
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES), True


def show_secret(
    resource: str, record: Record, field: str, secret: str | None, as_json_output: bool
) -> None:
    """A record with a secret shown once: in the JSON object, or on a line of its own."""
    if secret is None:
        show(resource, record, as_json_output)
        return
    if as_json_output:
        typer.echo(as_json({**record, field: secret}))
        return
    show(resource, {k: v for k, v in record.items() if k != field}, False)
    typer.echo(f"{field}: {secret}")
    typer.echo(f"(shown once: the server keeps only a hash of the {field})")


def expiry_ms(days: float | None) -> int | None:
    if days is None:
        return None
    return int(time.time() * 1000) + int(days * DAY_MS)


def collector_changes(
    site: str | None,
    machine_id: str | None,
    platform: str | None,
    chip_maker: str | None,
    cpu_model: str | None,
    cores: int | None,
    memory_bytes: int | None,
    owner: str | None,
) -> CollectorChanges:
    """The fields given; an empty text clears a field (site: no site)."""
    details: CollectorChanges = {}
    if site is not None:
        details["site"] = site
    texts = {
        "machine_id": machine_id,
        "platform": platform,
        "chip_maker": chip_maker,
        "cpu_model": cpu_model,
        "owner": owner,
    }
    for name, text in texts.items():
        if text is not None:
            details[name] = text or None  # type: ignore[literal-required]
    if cores is not None:
        details["cores"] = cores
    if memory_bytes is not None:
        details["memory_bytes"] = memory_bytes
    return details
