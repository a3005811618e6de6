"""``gantry web``: what it refuses before it starts, and what it prints when it does."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from gantry_web import plugin


@pytest.fixture
def cli() -> click.Group:
    @click.group()
    def group() -> None:
        """A bare gantry-like group."""

    plugin.gantry_commands(cli=group)
    return group


def test_web_needs_a_store(cli: click.Group) -> None:
    result = CliRunner().invoke(cli, ["web"])
    assert result.exit_code == 2 and "give DEST" in result.output


def test_web_refuses_a_store_that_is_not_there(cli: click.Group, tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    result = CliRunner().invoke(cli, ["web", "--db", f"sqlite:///{missing}"])
    assert result.exit_code == 1 and "no such store" in result.output
    assert not missing.exists()  # not created empty
    result = CliRunner().invoke(cli, ["web", str(tmp_path / "release")])
    assert result.exit_code == 1 and "no working store" in result.output


@pytest.mark.slow
def test_web_prints_a_loopback_address_with_a_token_and_stops_cleanly(tmp_path: Path) -> None:
    import urllib.error
    import urllib.request

    from gantry_web_kit import demo_store, start_console

    demo = demo_store(tmp_path / "demo", patients=1, series=1, instances=1)
    console = start_console("--db", demo.url, "--read-only")
    try:
        assert console.address.startswith("http://127.0.0.1:")
        token = console.address.split("token=", 1)[1]
        assert len(token) >= 32
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(console.base + "/patients", timeout=10)
        assert refused.value.code == 401
        request = urllib.request.Request(console.base + "/patients",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            page = answer.read().decode()
        assert "read-only" in page and "Patients" in page
    finally:
        printed = console.stop()
    assert console.process.returncode == 0, printed
    assert "(read-only)" in printed and "gantry web: stopped" in printed
    assert "interrupted" not in printed and "/patients" not in printed
