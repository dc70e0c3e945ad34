"""Console users: the store on a real SQLite file, the hashing, the ``sentinel users`` commands."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentinel.cli import app
from sentinel.config import StorageConfig
from sentinel.store import SqlStore
from sentinel.store.alerts import Audit
from sentinel.store.users import UserExists
from sentinel.web.auth import LoginLimiter, Sessions, hash_password, verify_password

T0 = datetime(2026, 12, 1, tzinfo=UTC)
runner = CliRunner()


def _audit(action: str, name: str) -> Audit:
    return Audit(T0, "test", action, f"user:{name}", {})


async def test_users_in_the_store(tmp_path: Path) -> None:
    store = SqlStore(StorageConfig(url=f"sqlite:///{tmp_path}/s.db"))
    await store.open()
    try:
        hashed = hash_password("correct horse")
        added = await store.add_user("wang.li", "responder", hashed, _audit("user.add", "wang.li"))
        assert "argon2" in hashed and hashed not in repr(added)
        with pytest.raises(UserExists):
            await store.add_user("wang.li", "viewer", hashed, _audit("user.add", "wang.li"))
        with pytest.raises(ValueError, match="role"):
            await store.add_user("zhao", "root", hashed, _audit("user.add", "zhao"))
        with pytest.raises(ValueError, match="name"):
            await store.add_user("has space", "viewer", hashed, _audit("user.add", "x"))
        user = await store.get_user("wang.li")
        assert user is not None and user.may("viewer") and user.may("responder") and not user.may("admin")
        assert verify_password(user.password_hash, "correct horse")
        assert not verify_password(user.password_hash, "wrong horse")
        assert not verify_password(None, "correct horse")  # no such user: same cost, never true
        assert await store.update_user("wang.li", _audit("user.passwd", "wang.li"), role="admin")
        assert (await store.get_user("wang.li")).role == "admin"  # type: ignore[union-attr]
        assert not await store.update_user("nobody", _audit("user.passwd", "nobody"), role="admin")
        assert [u.name for u in await store.list_users()] == ["wang.li"]
        assert await store.remove_user("wang.li", _audit("user.remove", "wang.li"))
        assert await store.get_user("wang.li") is None
        actions = [e.action for e in await store.audit_trail()]
        assert actions == ["user.remove", "user.passwd", "user.add"]
    finally:
        await store.close()


def test_short_passwords_are_refused() -> None:
    with pytest.raises(ValueError, match="8"):
        hash_password("short")


def test_sessions_and_login_limits() -> None:
    sessions = Sessions(ttl=60)
    sid, session = sessions.open("wang.li", "viewer", now=0)
    assert sessions.get(sid, now=30) is session and sessions.get(sid, now=61) is None
    assert session.csrf_ok(session.csrf) and not session.csrf_ok("x") and not session.csrf_ok(None)
    sid2, _ = sessions.open("wang.li", "viewer", now=100)
    sessions.close_user("wang.li")
    assert sessions.get(sid2, now=101) is None
    limiter = LoginLimiter(attempts=3, window=60)
    keys = ["user:wang.li", "ip:127.0.0.1"]
    for _ in range(3):
        assert not limiter.blocked(keys, now=0)
        limiter.failed(keys, now=0)
    assert limiter.blocked(keys, now=10) and limiter.blocked(["ip:127.0.0.1"], now=10)
    assert not limiter.blocked(keys, now=61)  # the window moved on


def test_users_commands(tmp_path: Path) -> None:
    cfg = tmp_path / "sentinel.toml"
    cfg.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/s.db"\n')
    r = runner.invoke(
        app, ["users", "add", "li.na", "--role", "admin", "--config", str(cfg)], input="pa55word-x\n"
    )
    assert r.exit_code == 0, r.output
    assert "pa55word" not in r.output
    r = runner.invoke(app, ["users", "add", "li.na", "--config", str(cfg)], input="pa55word-x\n")
    assert r.exit_code != 0 and "exists" in r.output
    r = runner.invoke(app, ["users", "add", "x", "--role", "god", "--config", str(cfg)], input="pa55word-x\n")
    assert r.exit_code == 2
    r = runner.invoke(app, ["users", "add", "x", "--config", str(cfg)], input="short\n")
    assert r.exit_code == 2 and "8" in r.output
    r = runner.invoke(app, ["users", "list", "--config", str(cfg)])
    assert r.exit_code == 0 and r.output.split("\t")[:2] == ["li.na", "admin"]
    r = runner.invoke(
        app, ["users", "passwd", "li.na", "--role", "viewer", "--config", str(cfg)], input="n3w-password\n"
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["users", "list", "--config", str(cfg)])
    assert r.output.split("\t")[1] == "viewer"
    assert runner.invoke(app, ["users", "remove", "nobody", "--config", str(cfg)]).exit_code == 1
    assert runner.invoke(app, ["users", "remove", "li.na", "--config", str(cfg)]).exit_code == 0
    r = runner.invoke(app, ["users", "list", "--config", str(cfg)])
    assert "li.na" not in r.output
