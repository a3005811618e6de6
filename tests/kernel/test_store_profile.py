"""``gantry_store_profile``: what a store records joins the profile of every run over it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from gantry import Session, hookimpl
from gantry.api import AuditEvent, ConfigKey
from gantry.plugins import build_plugin_manager


class _Notes(BaseModel):
    items: list[str] = []


class _Plugin:
    @hookimpl
    def gantry_config_keys(self):  # type: ignore[no-untyped-def]
        yield ConfigKey("site-notes", model=_Notes, description="notes kept in the store")

    @hookimpl
    def gantry_store_profile(self, store):  # type: ignore[no-untyped-def]
        items = [e.detail["item"] for e in store.iter_events(kind="site-note")]
        if items:
            yield {"plugins": {"site-notes": {"items": items}}}


def test_the_store_s_additions_extend_the_profile_and_leave_nothing_behind(
        tmp_path: Path) -> None:
    hooks = build_plugin_manager(load_entrypoints=False)
    hooks.pm.register(_Plugin(), name="site-notes")
    session = Session("memory://", hooks=hooks, secret=bytes(range(32)))
    assert session.spec.profile == session.base_profile == "ps3.15/basic"
    assert "site-notes" not in (session.profile.plugins or {})
    for item in ("a", "b", "a"):
        session.store.log_event(AuditEvent("site-note", "", {"item": item}))
    session.use_profile(session.base_profile)  # a console re-reads the store like this
    assert session.base_profile == "ps3.15/basic"
    assert session.profile.plugins["site-notes"] == {"items": ["a", "b"]}  # each once
    written = Path(session.spec.profile)
    assert written.is_file() and session.run.profile is session.profile
    session.use_profile(session.base_profile)  # again: not added twice
    assert session.profile.plugins["site-notes"] == {"items": ["a", "b"]}
    session.close()
    assert not written.exists()  # the private temporary profile goes with the session
