"""Repository-wide test settings: the Gantry testing kit, and no test touches the user's home."""

from __future__ import annotations

import pytest
from hypothesis import settings

pytest_plugins = ["gantry.testing.plugin"]

# Property tests: a CI budget by default; ``--hypothesis-profile=thorough`` for a long search.
settings.register_profile("ci", max_examples=40, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _isolated_gantry_home(tmp_path_factory: pytest.TempPathFactory,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("gantry-home")
    monkeypatch.setenv("GANTRY_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("GANTRY_SECRET", bytes(range(32)).hex())
    monkeypatch.delenv("GANTRY_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("GANTRY_LOAD_PLUGINS", raising=False)
