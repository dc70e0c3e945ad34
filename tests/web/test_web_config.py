"""The [web] section and [[notify]] escalation settings: validated at load, errors name the key."""

from __future__ import annotations

import pytest

from sentinel.config import ConfigError, config_from_dict


def test_web_defaults_and_public_url() -> None:
    web = config_from_dict({}).web
    assert (web.enabled, web.public_url, web.session_ttl, web.login_attempts) == (True, None, 43200.0, 5)
    assert (
        config_from_dict({"web": {"public_url": "https://s.example.com/"}}).web.public_url
        == "https://s.example.com"
    )
    with pytest.raises(ConfigError, match="public_url"):
        config_from_dict({"web": {"public_url": "javascript:alert(1)"}})
    with pytest.raises(ConfigError, match="session_ttl"):
        config_from_dict({"web": {"session_ttl": "1s"}})


def test_escalation_settings() -> None:
    ok = config_from_dict(
        {"notify": [{"type": "console", "name": "pr", "escalate_after": "30m", "escalate_to": "oncall"},
                    {"type": "console", "name": "oncall"}]}
    )  # fmt: skip
    assert (ok.notifiers[0].escalate_after, ok.notifiers[0].escalate_to) == (1800.0, "oncall")
    with pytest.raises(ConfigError, match="go together"):
        config_from_dict({"notify": [{"type": "console", "name": "pr", "escalate_after": "30m"}]})
    with pytest.raises(ConfigError, match="not another notify channel"):
        config_from_dict(
            {"notify": [{"type": "console", "name": "pr", "escalate_after": "1m", "escalate_to": "pr"}]}
        )
