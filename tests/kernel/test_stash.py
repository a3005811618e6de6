"""The run's typed stash: keys by identity, defaults, and a fresh stash per run."""

from __future__ import annotations

import pytest

from gantry.stash import Stash, StashKey


def test_keys_are_distinct_by_identity_and_typed_by_use() -> None:
    first, second = StashKey[int](), StashKey[int]()
    stash = Stash()
    stash[first] = 1
    assert first in stash and second not in stash and len(stash) == 1
    assert stash[first] == 1 and stash.get(second, "none") == "none"
    assert stash.setdefault(second, 5) == 5 and stash.setdefault(second, 7) == 5
    del stash[first]
    with pytest.raises(KeyError):
        stash[first]


def test_each_run_has_its_own_stash() -> None:
    from gantry.deid.standalone import standalone_run
    from gantry.profiles import load_profile

    key = StashKey[list[str]]()
    profile = load_profile("ps3.15/basic")
    one, two = standalone_run(profile, b"k" * 32), standalone_run(profile, b"k" * 32)
    one.stash.setdefault(key, []).append("x")
    assert key not in two.stash and one.stash[key] == ["x"]
