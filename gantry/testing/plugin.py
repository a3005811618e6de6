"""Opt-in pytest plugin for testing Gantry plugins.

Enable it with ``pytest -p gantry.testing.plugin`` or ``pytest_plugins = ["gantry.testing.plugin"]``
in a ``conftest.py``. Fixtures:

* ``gantry_pm`` — an empty plugin manager (no built-ins, no entry points) wrapped in
  :class:`~gantry.plugins.GantryHooks`;
* ``gantry_register`` — ``register(plugin, name=None)`` on the default manager, unregistered at
  teardown;
* ``gantry_hook_recorder`` — records every hook call made through ``gantry_hooks``;
* ``gantry_hooks`` — a fully loaded manager (built-ins and installed plugins);
* ``gantry_cohort`` — ``make(**kwargs)`` writes a synthetic cohort with planted identifiers;
* ``gantry_secret`` — a fixed project secret, also exported as ``GANTRY_SECRET``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gantry.plugins import GantryHooks, build_plugin_manager
from gantry.testing.factory import PlantedStudy, write_cohort

TEST_SECRET = bytes(range(32))


@dataclass
class HookCall:
    """One recorded hook call."""

    name: str
    kwargs: dict[str, Any]


@dataclass
class HookRecorder:
    """Hook calls seen, in order."""

    calls: list[HookCall] = field(default_factory=list)

    def names(self) -> list[str]:
        """The names of the hooks called, in order."""
        return [c.name for c in self.calls]

    def of(self, name: str) -> list[HookCall]:
        """Calls of one hook."""
        return [c for c in self.calls if c.name == name]


@pytest.fixture
def gantry_pm() -> GantryHooks:
    """An empty plugin manager: no built-ins, no entry points."""
    return build_plugin_manager(defaults=False, load_entrypoints=False, env={})


@pytest.fixture
def gantry_hooks() -> GantryHooks:
    """A plugin manager with the built-ins and every installed plugin."""
    return build_plugin_manager()


@pytest.fixture
def gantry_register(gantry_hooks: GantryHooks) -> Iterator[Callable[..., Any]]:
    """Register plugins for one test; they are unregistered afterwards."""
    added: list[object] = []

    def register(plugin: object, name: str | None = None) -> object:
        gantry_hooks.register(plugin, name=name)
        added.append(plugin)
        return plugin

    yield register
    for plugin in added:
        gantry_hooks.unregister(plugin)


@pytest.fixture
def gantry_hook_recorder(gantry_hooks: GantryHooks) -> Iterator[HookRecorder]:
    """Record every hook call made through ``gantry_hooks``."""
    recorder = HookRecorder()

    def before(hook_name: str, hook_impls: Any, kwargs: dict[str, Any]) -> None:
        recorder.calls.append(HookCall(hook_name, dict(kwargs)))

    def after(outcome: Any, hook_name: str, hook_impls: Any, kwargs: dict[str, Any]) -> None:
        return None

    undo = gantry_hooks.pm.add_hookcall_monitoring(before, after)
    yield recorder
    undo()


@pytest.fixture
def gantry_secret(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """A fixed project secret (also set as ``GANTRY_SECRET``)."""
    monkeypatch.setenv("GANTRY_SECRET", TEST_SECRET.hex())
    return TEST_SECRET


@pytest.fixture
def gantry_cohort(tmp_path: Path) -> Callable[..., PlantedStudy]:
    """``make(name="cohort", **kwargs)`` writes a synthetic cohort under ``tmp_path``."""

    def make(name: str = "cohort", **kwargs: Any) -> PlantedStudy:
        return write_cohort(tmp_path / name, **kwargs)

    return make
