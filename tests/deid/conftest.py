"""Fixtures for the de-identification engine tests (no network, no ../shared)."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from gantry.deid.engine import DeidEngine
from gantry.deid.standalone import instance_context, standalone_run
from gantry.profiles import Profile, load_profile

SECRET = bytes(range(32))


@pytest.fixture(scope="session")
def basic_profile() -> Profile:
    return load_profile("ps3.15/basic")


@pytest.fixture(scope="session")
def make_engine() -> Callable[..., DeidEngine]:
    """``make_engine(options=(...), secret=..., **profile_updates)`` → a cached engine."""
    cache: dict[tuple, DeidEngine] = {}
    base = load_profile("ps3.15/basic")

    def make(options: tuple[str, ...] = (), secret: bytes = SECRET, **updates) -> DeidEngine:
        key = (options, secret, tuple(sorted((k, repr(v)) for k, v in updates.items())))
        if key not in cache:
            profile = base.model_copy(update={"options": list(options), **updates})
            cache[key] = DeidEngine(profile, standalone_run(profile, secret))
        return cache[key]

    return make


@pytest.fixture(scope="session")
def deidentify() -> Callable:
    """``deidentify(engine, ds)`` → changes (applies in place with a fresh context)."""

    def run(engine: DeidEngine, ds):
        return engine.apply(ds, instance_context(ds, engine.run))

    return run


def encode(ds) -> bytes:
    """The bytes a DICOM-folder export would write."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.fixture(scope="session")
def encoder() -> Callable:
    return encode
