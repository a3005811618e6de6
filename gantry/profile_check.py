"""``gantry profiles validate``: every error of a profile file, and what it names installed.

:func:`check_profile` reports all it finds instead of the first: the file's structure (unknown
keys, options, actions, tag keys), its ``extends:`` chain, the components it names — each
``redact:`` redactor, ``audit:`` auditor, ``ingest:`` ingestor, ``export:`` format,
``store:`` scheme and ``requires:`` plugin must be installed — its ``plugins:`` settings
against each plugin's declared keys, and its ``lookup:`` tables (every bad line). Errors name
the file, line and field.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gantry.errors import GantryError, ProfileError, ProfileErrors

if TYPE_CHECKING:
    from gantry.plugins import GantryHooks
    from gantry.profiles import Profile


def _flatten(exc: ProfileError) -> list[ProfileError]:
    return list(exc.errors) if isinstance(exc, ProfileErrors) else [exc]


def _component_errors(doc: Any, data: dict[str, Any], hooks: GantryHooks) -> list[ProfileError]:
    """Components the file itself names that no installed plugin registers."""
    errors: list[ProfileError] = []

    def check(kind: str, name: Any, loc: tuple[Any, ...], label: str) -> None:
        known = hooks.components(kind)
        if isinstance(name, str) and name not in known:
            errors.append(doc.error(f"no {label} named {name!r} is installed (known: "
                                    f"{', '.join(sorted(known)) or 'none'})", loc))

    for key, kind, label in (("redact", "redactor", "redactor"),
                             ("audit", "auditor", "auditor")):
        names = data.get(key)
        if isinstance(names, list):
            for i, name in enumerate(names):
                check(kind, name, (key, i), label)
    if data.get("ingest") is not None:
        check("ingestor", data["ingest"], ("ingest",), "ingestor")
    exports = data.get("export")
    if isinstance(exports, list):
        formats = {getattr(rec, "format", None) or name
                   for name, rec in hooks.components("exporter").items()}
        formats |= set(hooks.components("exporter"))
        for i, entry in enumerate(exports):
            fmt = entry.get("format", "dicom") if isinstance(entry, dict) else None
            if isinstance(fmt, str) and fmt not in formats:
                errors.append(doc.error(f"no exporter writes format {fmt!r} (known: "
                                        f"{', '.join(sorted(formats))})", ("export", i)))
    store = data.get("store")
    if isinstance(store, str):
        try:
            hooks.store_backend_for(store)
        except GantryError as exc:
            errors.append(doc.error(str(exc), ("store",)))
    requires = data.get("requires")
    if isinstance(requires, list):
        loaded = {info.name for info in hooks.plugins(include_builtin=True)} | {
            info.distribution for info in hooks.plugins(include_builtin=True) if info.distribution}
        for i, name in enumerate(requires):
            if isinstance(name, str) and name not in loaded:
                errors.append(doc.error(f"required plugin {name!r} is not installed",
                                        ("requires", i)))
    return errors


def _settings_errors(doc: Any, data: dict[str, Any], hooks: GantryHooks) -> list[ProfileError]:
    """Every ``plugins:`` section checked against its plugin's declared settings."""
    from pydantic import ValidationError

    errors: list[ProfileError] = []
    sections = data.get("plugins")
    if not isinstance(sections, dict):
        return errors
    keys = hooks.components("config-key")
    for section, settings in sections.items():
        key = keys.get(section)
        if key is None:
            errors.append(doc.error(f"no installed plugin declares settings {section!r} "
                                    f"(known: {', '.join(sorted(keys)) or 'none'})",
                                    ("plugins", section)))
            continue
        try:
            key.model.model_validate(settings or {})  # type: ignore[attr-defined]
        except ValidationError as exc:
            for err in exc.errors():
                loc = ("plugins", section, *err.get("loc", ()))
                errors.append(doc.error(err.get("msg", "invalid"), loc))
    return errors


def _tag_errors(doc: Any, data: dict[str, Any]) -> list[ProfileError]:
    """The ``tags:``/``private:`` overrides checked on their own (so that they are reported
    even when another part of the file is invalid)."""
    from gantry.profiles import ProfileFile, tag_overrides

    tags = data.get("tags") if isinstance(data.get("tags"), dict) else {}
    private = data.get("private") if isinstance(data.get("private"), dict) else {}
    private = {c: e for c, e in private.items() if isinstance(e, dict)}
    try:
        tag_overrides(doc, ProfileFile.model_construct(tags=tags, private=private))
    except ProfileError as exc:
        return _flatten(exc)
    return []


def _register_local_hooks(doc: Any, path: Path, hooks: GantryHooks) -> list[ProfileError]:
    """Register the file's own ``local_hooks:`` (the components they define are installed
    for this check, as for a run); a file that is missing or fails to load is an error."""
    errors: list[ProfileError] = []
    entries = doc.data.get("local_hooks")
    if not isinstance(entries, list):
        return errors
    for i, entry in enumerate(entries):
        if not isinstance(entry, str):
            continue
        hook_file = (path.parent / entry).resolve()
        if not hook_file.is_file():
            errors.append(doc.error(f"local hooks file {hook_file} not found",
                                    ("local_hooks", i)))
            continue
        try:
            hooks.register_local_hooks(str(hook_file))
        except GantryError as exc:
            errors.append(doc.error(str(exc), ("local_hooks", i)))
    return errors


def check_profile(file: str, hooks: GantryHooks) -> tuple[list[ProfileError], Profile | None]:
    """Every error of a profile file (empty when valid) and, when it loads, the profile."""
    from gantry.profile_rules import table_errors
    from gantry.profiles import LocatedYaml, find_profile_file, load_profile, validate_profile_file
    from gantry.runbuild import validate_options

    try:
        path = find_profile_file(file, hooks.profile_paths())
        doc = LocatedYaml(path)
    except ProfileError as exc:
        return [exc], None
    errors: list[ProfileError] = []
    errors.extend(_register_local_hooks(doc, path, hooks))  # their components count
    structural = False
    try:
        validate_profile_file(doc)
    except ProfileError as exc:
        errors.extend(_flatten(exc))
        structural = True
    errors.extend(_tag_errors(doc, doc.data))
    errors.extend(_component_errors(doc, doc.data, hooks))
    errors.extend(_settings_errors(doc, doc.data, hooks))
    profile = None
    if not structural:
        try:
            profile = load_profile(path, hooks.profile_paths(), check_tables=False)
        except ProfileError as exc:
            errors.extend(_flatten(exc))
    if profile is not None:
        for key, kind, names in (("redact", "redactor", profile.redact),
                                 ("audit", "auditor", profile.audit)):
            known = hooks.components(kind)
            own = doc.data.get(key) if isinstance(doc.data.get(key), list) else []
            for name in names:
                if name not in known and name not in own:  # named by a parent profile
                    errors.append(ProfileError(f"no {kind} named {name!r} is installed",
                                               file=profile.source, field=kind))
        from gantry.runbuild import validate_options

        try:  # an option nobody in the stack carries out claims work nobody does
            validate_options(profile, hooks)
        except ProfileError as exc:
            errors.append(exc)
        for spec in profile.lookup:
            errors.extend(table_errors(spec))
        try:
            validate_options(profile, hooks)  # options whose work no configured redactor does
        except ProfileError as exc:
            errors.append(exc)
    unique: dict[str, ProfileError] = {}
    for error in errors:
        unique.setdefault(str(error), error)
    return list(unique.values()), profile if not unique else None


__all__ = ["check_profile"]
