"""Settings from the environment: every bad value is a ConfigurationError naming its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailgate.config import Settings
from mailgate.errors import ConfigurationError

KEY = "k3J9x2m4qZ7pW1vB8nR5tY6uI0oL3aSd"


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"MAILGATE_DATA_DIR": str(tmp_path), "MAILGATE_SECRET_KEY": KEY, **extra}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAILGATE_MAX_NAME_LENGTH", "0"),
        ("MAILGATE_MAX_NAME_LENGTH", "201"),  # wider than the name columns
        ("MAILGATE_MAX_RECIPIENTS", "many"),
        ("MAILGATE_ALLOW_PRIVATE_NETWORKS", "10.0.0.0/8,localhost"),
        ("MAILGATE_HTTP", "8025"),
    ],
)
def test_bad_values_name_their_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        Settings.from_env(env(tmp_path, **{variable: value}))
    assert err.value.setting == variable


def test_lists_and_limits_are_read(tmp_path: Path) -> None:
    settings = Settings.from_env(
        env(
            tmp_path,
            MAILGATE_ALLOW_PRIVATE_NETWORKS=" 10.0.0.0/8, ::1/128 ,",
            MAILGATE_OLD_SECRET_KEYS="old-one,old-two",
            MAILGATE_MAX_NAME_LENGTH="80",
        )
    )
    assert settings.allow_private_networks == ("10.0.0.0/8", "::1/128")
    assert settings.old_secret_keys == ("old-one", "old-two")
    assert settings.max_name_length == 80
