"""``sentinel users``: the people who may sign in to the console, and their roles."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from sentinel.cliconfig import ConfigOption, fail, load_or_exit, with_store
from sentinel.clock import SystemClock
from sentinel.config import Config
from sentinel.store import SqlStore
from sentinel.store.alerts import Audit
from sentinel.store.users import ROLES

__all__ = ["register", "users_app"]

T = TypeVar("T")

users_app = typer.Typer(help="Console users: viewer, responder or admin.", no_args_is_help=True)
RoleOption = Annotated[
    str, typer.Option("--role", help="viewer (reads), responder (acts on alerts) or admin.")
]


def _run(cfg: Config, work: Callable[[SqlStore], Awaitable[T]]) -> T:
    try:
        return with_store(cfg, work)
    except ValueError as exc:
        raise fail(f"error: {exc}") from None


def _password() -> str:
    """The password from stdin: one line (typed at a prompt without echo, or piped)."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise fail("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _audit(action: str, name: str) -> Audit:
    import getpass

    return Audit(SystemClock().now(), f"{getpass.getuser()} (cli)", action, f"user:{name}", {})


@users_app.command("add")
def users_add(name: str, role: RoleOption = "viewer", config: ConfigOption = None) -> None:
    """Add a user; the password is read from stdin."""
    from sentinel.web.auth import hash_password

    if role not in ROLES:
        raise fail(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    cfg = load_or_exit(config)
    try:
        hashed = hash_password(_password())
    except ValueError as exc:
        raise fail(f"error: {exc}") from None
    _run(cfg, lambda store: store.add_user(name, role, hashed, _audit("user.add", name)))
    typer.echo(f"added {name} ({role})")


@users_app.command("list")
def users_list(config: ConfigOption = None) -> None:
    """The users and their roles."""
    cfg = load_or_exit(config)
    users = _run(cfg, lambda store: store.list_users())
    for user in users:
        typer.echo(f"{user.name}\t{user.role}\t{user.created_at.isoformat(timespec='seconds')}")
    if not users:
        typer.echo("(no users; add one with: sentinel users add NAME --role admin)", err=True)


@users_app.command("remove")
def users_remove(name: str, config: ConfigOption = None) -> None:
    """Remove a user (their sessions end at the next request)."""
    cfg = load_or_exit(config)
    if not _run(cfg, lambda store: store.remove_user(name, _audit("user.remove", name))):
        raise fail(f"no user {name!r}", 1)
    typer.echo(f"removed {name}")


@users_app.command("passwd")
def users_passwd(
    name: str,
    config: ConfigOption = None,
    role: Annotated[str | None, typer.Option("--role", help="Also change the role.")] = None,
) -> None:
    """Set a user's password (read from stdin), and optionally the role."""
    from sentinel.web.auth import hash_password

    if role is not None and role not in ROLES:
        raise fail(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    cfg = load_or_exit(config)
    try:
        hashed = hash_password(_password())
    except ValueError as exc:
        raise fail(f"error: {exc}") from None
    done = _run(
        cfg,
        lambda store: store.update_user(name, _audit("user.passwd", name), role=role, password_hash=hashed),
    )
    if not done:
        raise fail(f"no user {name!r}", 1)
    typer.echo(f"password set for {name}")


def register(app: typer.Typer) -> None:
    """Add ``users`` to the ``sentinel`` command line."""
    app.add_typer(users_app, name="users")
