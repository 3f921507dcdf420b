"""`fleetscope admin tenants|users|keys|collectors`: the accounts of issue 12 from the command
line, noun then verb as in PerfAnalysis' pcctl: list, create, update; revoke for keys;
deactivate and activate for tenants. Each works directly on the store (--data-dir, --database,
--config: bootstrap and recovery) or through a running server (--server, --token); see
cli/accounts_target.py. A table by default, --json for scripts; a new key or a generated
password is printed once."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetscope.cli.accounts_target import (
    ConfigFile,
    DataDir,
    Json,
    ServerUrl,
    Target,
    TenantOption,
    Token,
    accounts_for,
    collector_changes,
    expiry_ms,
    new_password,
    show,
    show_secret,
    usage_error,
)
from fleetscope.cli.options import Database
from fleetscope.model.auth import Role, Scope


def _typer(help_text: str) -> typer.Typer:
    return typer.Typer(no_args_is_help=True, help=help_text, rich_markup_mode=None)


tenants_app = _typer("Tenants (organisations): list, create, rename, deactivate, activate.")
users_app = _typer("Users of a tenant: list, create, change role, disable, reset password.")
keys_app = _typer("API keys of a tenant: list, create (shown once), revoke.")
collectors_app = _typer("The collector registry (monitored machines): list, create, edit.")


def add_account_commands(admin_app: typer.Typer) -> None:
    admin_app.add_typer(tenants_app, name="tenants")
    admin_app.add_typer(users_app, name="users")
    admin_app.add_typer(keys_app, name="keys")
    admin_app.add_typer(collectors_app, name="collectors")


# Tenants


@tenants_app.command("list")
def list_tenants(
    ctx: typer.Context,
    as_json: Json = False,
    data_dir: DataDir = None,
    database: Database = None,
    config: ConfigFile = None,
    server: ServerUrl = None,
    token: Token = None,
) -> None:
    """Every tenant: id, name, active, created (server mode: the superuser's token)."""
    with accounts_for(ctx, Target(data_dir, database, config, server, token), writes=False) as a:
        show("tenants", a.tenants(), as_json)


@tenants_app.command("create")
def create_tenant(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="the new tenant's name")],
    as_json: Json = False,
    data_dir: DataDir = None,
    database: Database = None,
    config: ConfigFile = None,
    server: ServerUrl = None,
    token: Token = None,
) -> None:
    """A new tenant; give it a first admin with `users create --tenant NAME --role admin`."""
    with accounts_for(ctx, Target(data_dir, database, config, server, token), writes=True) as a:
        show("tenants", a.create_tenant(name), as_json)


@tenants_app.command("update")
def update_tenant(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="tenant name or id")],
    name: Annotated[str | None, typer.Option("--name", help="rename it to this")] = None,
    as_json: Json = False,
    data_dir: DataDir = None,
    database: Database = None,
    config: ConfigFile = None,
    server: ServerUrl = None,
    token: Token = None,
) -> None:
    """Rename a tenant."""
    if name is None:
        raise usage_error("tenants update: nothing to change (give --name)")
    with accounts_for(ctx, Target(data_dir, database, config, server, token), writes=True) as a:
        show("tenants", a.update_tenant(tenant, name=name, active=None), as_json)


def _set_active(
    ctx: typer.Context, tenant: str, active: bool, as_json: bool, target: Target
) -> None:
    with accounts_for(ctx, target, writes=True) as a:
        show("tenants", a.update_tenant(tenant, name=None, active=active), as_json)


@tenants_app.command("deactivate")
def deactivate_tenant(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="tenant name or id")],
    as_json: Json = False,
    data_dir: DataDir = None,
    database: Database = None,
    config: ConfigFile = None,
    server: ServerUrl = None,
    token: Token = None,
) -> None:
    """Refuse a tenant's keys and logins and end its sessions; its data is kept."""
    _set_active(ctx, tenant, False, as_json, Target(data_dir, database, config, server, token))


@tenants_app.command("activate")
def activate_tenant(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="tenant name or id")],
    as_json: Json = False,
    data_dir: DataDir = None,
    database: Database = None,
    config: ConfigFile = None,
    server: ServerUrl = None,
    token: Token = None,
) -> None:
    """Accept a deactivated tenant's keys and logins again."""
    _set_active(ctx, tenant, True, as_json, Target(data_dir, database, config, server, token))


# Users

PasswordOption = Annotated[
    str | None,
    typer.Option("--password", help="the password [default: generated and printed once]"),
]


@users_app.command("list")
def list_users(
    ctx: typer.Context,
    tenant: TenantOption = None,
    as_json: Json = False,
    data_dir: DataDir = None,
    database: Database = None,
    config: ConfigFile = None,
    server: ServerUrl = None,
    token: Token = None,
) -> None:
    """A tenant's users: id, username, role, superuser, disabled, created."""
    with accounts_for(ctx, Target(data_dir, database, config, server, token), writes=False) as a:
        show("users", a.users(tenant), as_json)


@users_app.command("create")
def create_user(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="unique on the server")],
    role: Annotated[
        Role | None,
        typer.Option(
            "--role", help="admin, editor or viewer [default: viewer; admin with --superuser]"
        ),
    ] = None,
    password: PasswordOption = None,
    superuser: Annotated[
        bool, typer.Option("--superuser", help="server-wide: manages tenants (direct mode)")
    ] = False,
    tenant: TenantOption = None,
    as_json: Json = False,
    data_dir: DataDir = None,
    database: Database = None,
    config: ConfigFile = None,
    server: ServerUrl = None,
    token: Token = None,
) -> None:
    """A new user. With --superuser on an empty data directory or database: the first
    superuser, in the default tenant (the server's first start then makes no admin of its
    own)."""
    chosen, generated = new_password(password)
    if role is None:
        role = Role.ADMIN if superuser else Role.VIEWER
    with accounts_for(ctx, Target(data_dir, database, config, server, token), writes=True) as a:
        made = a.create_user(username, chosen, role, tenant=tenant, superuser=superuser)
        show_secret("users", made, "password", chosen if generated else None, as_json)


@users_app.command("update")
def update_user(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="username or id")],
    role: Annotated[Role | None, typer.Option("--role", help="admin, editor or viewer")] = None,
    disabled: Annotated[
        bool | None,
        typer.Option("--disable/--enable", help="refuse (and end) or allow the user's logins"),
    ] = None,
    reset_password: Annotated[
        bool,
        typer.Option("--reset-password", help="a new generated password, printed once"),
    ] = False,
    password: Annotated[
        str | None, typer.Option("--password", help="set this password (ends their sessions)")
    ] = None,
    superuser: Annotated[
        bool | None,
        typer.Option("--superuser/--no-superuser", help="grant or take the superuser flag"),
    ] = None,
    tenant: TenantOption = None,
    as_json: Json = False,
    data_dir: DataDir = None,
    database: Database = None,
    config: ConfigFile = None,
    server: ServerUrl = None,
    token: Token = None,
) -> None:
    """Change a user's role, disable or enable them, reset their password (a lost admin
    password: directly on the data directory)."""
    if reset_password and password is not None:
        raise usage_error("users update: give --reset-password or --password, not both")
    nothing = (role, disabled, superuser, password) == (None, None, None, None)
    if nothing and not reset_password:
        raise usage_error(
            "users update: nothing to change (give --role, --disable/--enable, "
            "--reset-password, --password or --superuser/--no-superuser)"
        )
    generated: str | None = None
    if reset_password or password is not None:
        chosen, was_generated = new_password(password)
        generated = chosen if was_generated else None
    else:
        chosen = None
    with accounts_for(ctx, Target(data_dir, database, config, server, token), writes=True) as a:
        changed = a.update_user(
            user,
            tenant=tenant,
            role=role,
            disabled=disabled,
            password=chosen,
            superuser=superuser,
        )
        show_secret("users", changed, "password", generated, as_json)


# API keys


@keys_app.command("list")
def list_keys(
    ctx: typer.Context,
    include_revoked: Annotated[bool, typer.Option("--all", help="revoked keys too")] = False,
    tenant: TenantOption = None,
    as_json: Json = False,
    data_dir: DataDir = None,
    database: Database = None,
    config: ConfigFile = None,
    server: ServerUrl = None,
    token: Token = None,
) -> None:
    """A tenant's live API keys: id, name, scope, prefix, bound host, creator, times."""
    with accounts_for(ctx, Target(data_dir, database, config, server, token), writes=False) as a:
        show("keys", a.keys(tenant, include_revoked=include_revoked), as_json)


@keys_app.command("create")
def create_key(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="what the key is for, e.g. the agent's host")],
    scope: Annotated[
        Scope, typer.Option("--scope", help="ingest (agents: send only) or read (read only)")
    ] = Scope.INGEST,
    machine_id: Annotated[
        str | None, typer.Option("--machine-id", help="bind an ingest key to this host")
    ] = None,
    expires_days: Annotated[
        float | None, typer.Option("--expires-days", min=0, help="expire after this many days")
    ] = None,
    tenant: TenantOption = None,
    as_json: Json = False,
    data_dir: DataDir = None,
    database: Database = None,
    config: ConfigFile = None,
    server: ServerUrl = None,
    token: Token = None,
) -> None:
    """A new API key, printed once (the store keeps its hash)."""
    with accounts_for(ctx, Target(data_dir, database, config, server, token), writes=True) as a:
        made = a.create_key(
            name,
            scope,
            tenant=tenant,
            machine_id=machine_id,
            expires_ms=expiry_ms(expires_days),
        )
        show_secret("keys", made, "key", made.get("key"), as_json)


@keys_app.command("revoke")
def revoke_key(
    ctx: typer.Context,
    key_id: Annotated[int, typer.Argument(help="the key's id, as `keys list` shows it")],
    tenant: TenantOption = None,
    as_json: Json = False,
    data_dir: DataDir = None,
    database: Database = None,
    config: ConfigFile = None,
    server: ServerUrl = None,
    token: Token = None,
) -> None:
    """Revoke a key. A server refuses it within its key cache's lifetime (10 s)."""
    with accounts_for(ctx, Target(data_dir, database, config, server, token), writes=True) as a:
        show("keys", a.revoke_key(key_id, tenant=tenant), as_json)


# Collectors

Site = Annotated[str | None, typer.Option("--site", help="where the machine is")]
Platform = Annotated[str | None, typer.Option("--platform", help="Linux, Windows, macOS, ...")]
ChipMaker = Annotated[str | None, typer.Option("--chip-maker", help="Intel, AMD, ...")]
CpuModel = Annotated[str | None, typer.Option("--cpu-model", help="the CPU model name")]
Cores = Annotated[int | None, typer.Option("--cores", min=0, help="CPU cores")]
MemoryBytes = Annotated[int | None, typer.Option("--memory-bytes", min=0, help="memory")]
Owner = Annotated[str | None, typer.Option("--owner", help="who is responsible for it")]
MachineId = Annotated[
    str | None, typer.Option("--machine-id", help="the id the agent or perfcollector sends")
]


@collectors_app.command("list")
def list_collectors(
    ctx: typer.Context,
    site: Site = None,
    tenant: TenantOption = None,
    as_json: Json = False,
    data_dir: DataDir = None,
    database: Database = None,
    config: ConfigFile = None,
    server: ServerUrl = None,
    token: Token = None,
) -> None:
    """A tenant's collectors, by site and machine."""
    with accounts_for(ctx, Target(data_dir, database, config, server, token), writes=False) as a:
        show("collectors", a.collectors(tenant, site=site), as_json)


@collectors_app.command("create")
def create_collector(
    ctx: typer.Context,
    machine: Annotated[str, typer.Argument(help="the machine's name")],
    site: Site = None,
    machine_id: MachineId = None,
    platform: Platform = None,
    chip_maker: ChipMaker = None,
    cpu_model: CpuModel = None,
    cores: Cores = None,
    memory_bytes: MemoryBytes = None,
    owner: Owner = None,
    tenant: TenantOption = None,
    as_json: Json = False,
    data_dir: DataDir = None,
    database: Database = None,
    config: ConfigFile = None,
    server: ServerUrl = None,
    token: Token = None,
) -> None:
    """Register a machine before its agent first calls (unique per site and machine)."""
    details = collector_changes(
        site, machine_id, platform, chip_maker, cpu_model, cores, memory_bytes, owner
    )
    with accounts_for(ctx, Target(data_dir, database, config, server, token), writes=True) as a:
        show("collectors", a.create_collector(machine, details, tenant=tenant), as_json)


@collectors_app.command("update")
def update_collector(
    ctx: typer.Context,
    collector_id: Annotated[int, typer.Argument(help="the collector's id")],
    machine: Annotated[str | None, typer.Option("--machine", help="rename the machine")] = None,
    site: Site = None,
    machine_id: MachineId = None,
    platform: Platform = None,
    chip_maker: ChipMaker = None,
    cpu_model: CpuModel = None,
    cores: Cores = None,
    memory_bytes: MemoryBytes = None,
    owner: Owner = None,
    tenant: TenantOption = None,
    as_json: Json = False,
    data_dir: DataDir = None,
    database: Database = None,
    config: ConfigFile = None,
    server: ServerUrl = None,
    token: Token = None,
) -> None:
    """Edit a collector's fields ('' clears one); what a person sets, an agent's later
    inventory does not overwrite."""
    changes = collector_changes(
        site, machine_id, platform, chip_maker, cpu_model, cores, memory_bytes, owner
    )
    if machine is not None:
        changes["machine"] = machine
    if not changes:
        raise usage_error("collectors update: nothing to change (give a field such as --owner)")
    with accounts_for(ctx, Target(data_dir, database, config, server, token), writes=True) as a:
        show("collectors", a.update_collector(collector_id, changes, tenant=tenant), as_json)
