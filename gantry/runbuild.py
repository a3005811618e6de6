"""Building a run: a profile loaded with the plugins' paths and settings, and a :class:`Run`.

Used by the session in the parent and by the pipeline inside each worker, so neither imports
the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gantry.context import Run, RunSpec
from gantry.errors import ProfileError
from gantry.plugins import GantryHooks, build_plugin_manager

if TYPE_CHECKING:
    from gantry.profiles import Profile
    from gantry.protocols import Store

__all__ = ["build_run", "check_components", "load_run_profile", "store_profile",
           "validate_options", "validate_plugin_settings"]


def load_run_profile(ref: str, hooks: GantryHooks) -> Profile:
    """Load a profile with the plugins' search paths, register its local hooks, check settings."""
    from gantry.profiles import load_profile

    profile = load_profile(ref, hooks.profile_paths())
    hooks.require(profile.requires)
    for path in profile.local_hooks:
        hooks.register_local_hooks(path)
    validate_plugin_settings(profile, hooks)
    validate_options(profile, hooks)
    return profile


def store_profile(ref: str, profile: Profile, additions: list[dict[str, Any]],
                  folder: str) -> str:
    """Write ``folder/store-profile.yaml``: a profile that ``extends`` ``ref`` with
    ``additions`` (what the plugins' ``gantry_store_profile`` hooks say a store records:
    components added to ``redact:``, items appended to lists of ``plugins:`` settings, each
    once); return its path."""
    import copy
    from pathlib import Path

    import yaml
    redact = list(profile.redact)
    plugins: dict[str, dict[str, object]] = {}
    for addition in additions:
        for name in addition.get("redact", ()) or ():
            if name not in redact:
                at = redact.index("ps315-tags") + 1 if "ps315-tags" in redact else len(redact)
                redact.insert(at, name)
        for section, settings in (addition.get("plugins", {}) or {}).items():
            merged = plugins.setdefault(section, copy.deepcopy(
                dict((profile.plugins or {}).get(section) or {})))
            for key, items in (settings or {}).items():
                found = list(merged.get(key) or [])  # type: ignore[call-overload]
                for item in items:
                    if item not in found:
                        found.append(item)
                merged[key] = found
    document = {"extends": [ref], "name": f"{profile.name}+store",
                "description": f"{profile.name} with what the store records (gantry_store_profile)",
                "redact": redact, "plugins": plugins}
    path = Path(folder) / "store-profile.yaml"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    tmp.replace(path)
    return str(path)


def check_components(profile: Profile, hooks: GantryHooks) -> None:
    """Every redactor and auditor the profile names is installed (else a :class:`ProfileError`
    before any input is read, not one failure per instance). The CLI checks this once the
    session is open; a program may still register components on ``session.hooks`` later."""
    for key, kind, names in (("redact", "redactor", profile.redact),
                             ("audit", "auditor", profile.audit)):
        known = hooks.components(kind)
        for name in names:
            if name not in known:
                raise ProfileError(f"no {kind} named {name!r} is installed (known: "
                                   f"{', '.join(sorted(known)) or 'none'})",
                                   file=profile.source, field=key)


def validate_options(profile: Profile, hooks: GantryHooks) -> None:
    """Every Annex E option the tag engine does not carry out itself (``clean-pixel-data``,
    ``clean-recognizable-visual-features``) must be performed by a redactor of ``redact:``
    that declares it (``Redactor.performs``) and is configured; otherwise the profile claims
    work nobody does. The error names the file and line of the option."""
    from gantry.deid.markers import INSTANCE_OPTIONS
    from gantry.profiles import locate

    redactors = hooks.components("redactor")
    for option in profile.options:
        if option not in INSTANCE_OPTIONS:
            continue
        reasons: list[str] = []
        for name in profile.redact:
            record = redactors.get(name)
            if record is None or option not in getattr(record, "performs", ()):
                continue
            check = getattr(record, "unconfigured", None)
            why = check(profile) if check is not None else None
            if why is None:
                break
            reasons.append(f"{name}: {why}")
        else:
            able = sorted(n for n, r in redactors.items()
                          if option in getattr(r, "performs", ()))
            if reasons:
                need = "; ".join(reasons)
            elif able:
                need = f"add one of {', '.join(able)} to redact:"
            else:
                need = "no installed plugin performs it"
            file, line = locate(profile, "options", option, hooks.profile_paths())
            raise ProfileError(f"option {option} is not carried out by any configured "
                               f"redactor in redact: [{', '.join(profile.redact)}] ({need})",
                               file=file, line=line, field="options")


def validate_plugin_settings(profile: Profile, hooks: GantryHooks) -> None:
    """Validate each ``plugins:`` section against the plugin's declared config key."""
    from pydantic import ValidationError

    keys = hooks.components("config-key")
    for section, settings in (profile.plugins or {}).items():
        key = keys.get(section)
        if key is None:
            known = ", ".join(sorted(keys)) or "none"
            raise ProfileError(f"no installed plugin declares settings {section!r} "
                               f"(known: {known})", file=profile.source,
                               field=f"plugins.{section}")
        try:
            key.model.model_validate(settings or {})  # type: ignore[attr-defined]
        except ValidationError as exc:
            from gantry.profiles import line_of

            first = exc.errors()[0]
            loc = tuple(first.get("loc", ()))
            where = ".".join(str(p) for p in loc)
            raise ProfileError(first.get("msg", "invalid"), file=profile.source,
                               line=line_of(profile.source, ("plugins", section, *loc)),
                               field=f"plugins.{section}.{where}".rstrip(".")) from None


def build_run(spec: RunSpec, *, store: Store | None = None,
              hooks: GantryHooks | None = None) -> Run:
    """Rebuild a :class:`Run` from a spec (inside a worker, or for the session itself)."""
    hooks = hooks or build_plugin_manager(block=spec.block_plugins, allow=spec.allow_plugins)
    profile = load_run_profile(spec.profile, hooks)
    return Run(profile=profile, secret=spec.secret, hooks=hooks, store=store, spec=spec)
