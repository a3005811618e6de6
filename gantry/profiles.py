"""Privacy profiles: pydantic models, YAML loading with ``extends:``, errors naming file and line.

A profile file is YAML. It may ``extends:`` other profiles (shipped names such as
``ps3.15/basic`` or paths relative to the file), switch on Annex E ``options:``, override
actions per attribute under ``tags:`` (by keyword, ``(gggg,eeee)`` in any case, ``ggggeeee``,
masks such as ``(50xx,xxxx)`` and private tags ``(0009,"CREATOR",xx10)``) or per private creator
under ``private:``, and carry the run *recipe* (``redact:``, ``audit:``, ``export:``...).
:func:`load_profile` returns the resolved :class:`Profile`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gantry.errors import ProfileError, ProfileErrors
from gantry.profile_rules import FilterRule, LookupSpec, load_table, resolve_files

DEFAULT_PROFILE = "ps3.15/basic"

OPTIONS: tuple[str, ...] = (
    "retain-safe-private", "retain-uids", "retain-device-identity",
    "retain-institution-identity", "retain-patient-characteristics",
    "retain-longitudinal-full-dates", "retain-longitudinal-modified-dates",
    "clean-descriptors", "clean-structured-content", "clean-graphics", "clean-pixel-data",
    "clean-recognizable-visual-features",
)
ACTIONS: tuple[str, ...] = ("D", "Z", "X", "K", "C", "U", "X/Z", "X/D", "X/Z/D", "X/Z/U*", "Z/D")

ActionName = Literal["D", "Z", "X", "K", "C", "U", "X/Z", "X/D", "X/Z/D", "X/Z/U*", "Z/D"]
OptionName = Literal[
    "retain-safe-private", "retain-uids", "retain-device-identity",
    "retain-institution-identity", "retain-patient-characteristics",
    "retain-longitudinal-full-dates", "retain-longitudinal-modified-dates",
    "clean-descriptors", "clean-structured-content", "clean-graphics", "clean-pixel-data",
    "clean-recognizable-visual-features",
]


# --------------------------------------------------------------------------- models
class TagRule(BaseModel):
    """An override for one attribute, mask or private tag: an action and an optional value."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    action: ActionName
    value: str | None = None


class ExportTargetModel(BaseModel):
    """One ``export:`` entry of a recipe."""

    model_config = ConfigDict(extra="forbid")
    to: str
    format: str = "dicom"
    options: dict[str, Any] = Field(default_factory=dict)
    query: str | None = None


class ReversibleSettings(BaseModel):
    """Opt-in PS3.15 E.1.2 reversibility: encrypt originals to a recipient certificate."""

    model_config = ConfigDict(extra="forbid")
    recipient_certificate: str | None = None
    attributes: Literal["changed", "identifying"] = "changed"


class CleanSettings(BaseModel):
    """Extra clean patterns (regular expressions) and words removed by the C action."""

    model_config = ConfigDict(extra="forbid")
    patterns: list[str] = Field(default_factory=list)
    words: list[str] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return value


class _Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requires: list[str] = Field(default_factory=list)
    ingest: str | None = None
    audit: list[str] = Field(default_factory=lambda: ["ps315-audit"])
    redact: list[str] = Field(default_factory=lambda: ["ps315-tags"])
    store: str | None = None
    export: list[ExportTargetModel] = Field(default_factory=list)
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)
    local_hooks: list[str] = Field(default_factory=list)
    #: inputs withheld before indexing (see :mod:`gantry.filters`); ``extends:`` adds to them
    filter: list[FilterRule] = Field(default_factory=list)
    #: site-chosen pseudonyms from CSV tables (see :mod:`gantry.lookup`)
    lookup: list[LookupSpec] = Field(default_factory=list)


class ProfileFile(_Recipe):
    """One YAML file as written (before ``extends:`` is resolved); every key optional."""

    name: str | None = None
    description: str | None = None
    extends: list[str] | str | None = None
    edition: str | None = None
    options: list[OptionName] = Field(default_factory=list)
    remove_options: list[OptionName] = Field(default_factory=list)
    tags: dict[str, Any] = Field(default_factory=dict)
    private: dict[str, dict[str, Any]] = Field(default_factory=dict)
    unknown_attributes: Literal["keep", "remove"] | None = None
    date_offset_days: tuple[int, int] | None = None
    reversible: ReversibleSettings | None = None
    clean: CleanSettings | None = None
    burned_in: Literal["refuse", "allow"] | None = None
    audit: list[str] | None = None  # type: ignore[assignment]
    redact: list[str] | None = None  # type: ignore[assignment]


class Profile(_Recipe):
    """A resolved privacy profile: Annex E settings plus the run recipe."""

    model_config = ConfigDict(extra="forbid")
    name: str
    source: str | None = None
    description: str = ""
    extends: list[str] = Field(default_factory=list)
    edition: str = "2024b"
    options: list[str] = Field(default_factory=list)
    #: overrides keyed by normalised tag: ``"0008103e"`` or a mask such as ``"50xxxxxx"``.
    tags: dict[str, TagRule] = Field(default_factory=dict)
    #: private overrides: creator → element byte (``"10"``, two lowercase hex digits) or
    #: ``"gggg:10"`` when the rule names a group → rule.
    private: dict[str, dict[str, TagRule]] = Field(default_factory=dict)
    unknown_attributes: Literal["keep", "remove"] = "keep"
    date_offset_days: tuple[int, int] = (-3650, -365)
    reversible: ReversibleSettings = Field(default_factory=ReversibleSettings)
    clean: CleanSettings = Field(default_factory=CleanSettings)
    #: images known to carry burned-in text (see ``gantry.deid.burned_in``) that no pixel
    #: redactor processed: withheld (``refuse``) or released with a marker saying so (``allow``)
    burned_in: Literal["refuse", "allow"] = "refuse"

    def has(self, option: str) -> bool:
        """Whether an Annex E option is switched on."""
        return option in self.options


# --------------------------------------------------------------------------- tag keys
_PAREN = re.compile(r"^\(\s*([0-9a-fA-Fx]{4})\s*,\s*([0-9a-fA-Fx]{4})\s*\)$")
_HEX8 = re.compile(r"^(?:0x)?([0-9a-fA-Fx]{8})$")
_PRIVATE = re.compile(
    r"""^\(\s*([0-9a-fA-F]{4})\s*,\s*["']([^"']+)["']\s*,\s*(?:xx)?([0-9a-fA-F]{2})\s*\)$""",
    re.IGNORECASE)
_PRIV_ELEM = re.compile(r"^(?:\(\s*([0-9a-fA-F]{4})\s*,\s*(?:xx)?([0-9a-fA-F]{2})\s*\)|"
                        r"(?:0x)?(?:xx)?([0-9a-fA-F]{2}))$", re.IGNORECASE)


def parse_tag_key(key: str) -> tuple[str, ...]:
    """Parse an override key into ``("tag", "0008103e")``, ``("mask", "50xxxxxx")`` or
    ``("private", group, creator, element)``; raise ``ValueError`` when unknown."""
    text = str(key).strip()
    match = _PRIVATE.match(text)
    if match:
        group = int(match[1], 16)
        if group % 2 == 0:
            raise ValueError(f"{key!r}: a private tag needs an odd group")
        return ("private", f"{group:04x}", match[2], match[3].lower())
    match = _PAREN.match(text)
    hex8 = (match[1] + match[2]) if match else None
    if hex8 is None:
        match = _HEX8.match(text)
        hex8 = match[1] if match else None
    if hex8 is not None:
        hex8 = hex8.lower()
        if "x" in hex8:
            return ("mask", hex8)
        if int(hex8[:4], 16) % 2 == 1:
            raise ValueError(f"{key!r}: private tags are named with their creator, "
                             "e.g. (0009,\"CREATOR\",xx10), or under private:")
        return ("tag", hex8)
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(text)
    if tag is None:
        raise ValueError(f"unknown attribute keyword or tag {key!r}")
    return ("tag", f"{tag:08x}")


def _private_element_key(key: str) -> str:
    match = _PRIV_ELEM.match(str(key).strip())
    if not match:
        raise ValueError(f"private element {key!r} must look like (0009,xx10), xx10 or 10")
    if match[1]:
        return f"{match[1].lower()}:{match[2].lower()}"
    return match[3].lower()


# --------------------------------------------------------------------------- YAML with lines
class LocatedYaml:
    """A YAML document as plain data plus the line of every key path."""

    def __init__(self, path: Path) -> None:
        import yaml

        self.path = path
        self.lines: dict[tuple[Any, ...], int] = {}
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProfileError(f"cannot read profile: {exc.strerror}", file=str(path)) from None
        try:
            loader = yaml.SafeLoader(text)
            try:
                node = loader.get_single_node()
                self.data = self._build(loader, node, ()) if node is not None else {}
            finally:
                loader.dispose()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ProfileError(f"invalid YAML: {getattr(exc, 'problem', exc)}", file=str(path),
                               line=mark.line + 1 if mark else None) from None
        if not isinstance(self.data, dict):
            raise ProfileError("a profile must be a mapping", file=str(path), line=1)

    def _build(self, loader: Any, node: Any, path: tuple[Any, ...]) -> Any:
        import yaml

        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                out[key] = self._build(loader, value_node, (*path, key))
                self.lines[(*path, key)] = key_node.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._build(loader, item, (*path, i)) for i, item in enumerate(node.value)]
        return loader.construct_object(node, deep=True)

    def line(self, loc: Sequence[Any]) -> int | None:
        """The line of the deepest known key along ``loc``."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get(())

    def error(self, message: str, loc: Sequence[Any]) -> ProfileError:
        """A :class:`ProfileError` for ``loc`` in this file."""
        field = ".".join(str(p) for p in loc) or None
        return ProfileError(message, file=str(self.path), line=self.line(loc), field=field)


def line_of(path: str | os.PathLike[str] | None, loc: Sequence[Any]) -> int | None:
    """The line of the deepest key along ``loc`` in the YAML file ``path`` (``None`` when the
    file cannot be read or has none of it): for errors found after a profile was loaded."""
    if not path:
        return None
    try:
        located = LocatedYaml(Path(path))
    except ProfileError:
        return None
    return located.line(loc) if tuple(loc[:1]) in located.lines else None


# --------------------------------------------------------------------------- lookup
def shipped_profiles_dir() -> Path:
    """The shipped profiles folder (in the wheel, or the repo's ``profiles/``)."""
    from importlib.resources import files

    try:
        packaged = Path(str(files("gantry") / "_profiles"))
        if packaged.is_dir():
            return packaged
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent / "profiles"


def find_profile_file(ref: str | os.PathLike[str], search_paths: Sequence[Path],
                      relative_to: Path | None = None) -> Path:
    """The file a profile reference names: a path (tried beside ``relative_to`` first), or a
    name looked up in the shipped profiles and ``search_paths``."""
    text = os.fspath(ref)
    candidates: list[Path] = []
    as_path = Path(text).expanduser()
    if relative_to is not None and not as_path.is_absolute():
        candidates.append(relative_to / as_path)
    candidates.append(as_path)
    names = [text] if text.endswith((".yaml", ".yml")) else [text + ".yaml", text + ".yml", text]
    for folder in (shipped_profiles_dir(), *map(Path, search_paths)):
        candidates.extend(folder / name for name in names)
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise ProfileError(f"profile {text!r} not found (looked in the shipped profiles and "
                       f"{len(search_paths)} search path(s))")


def list_profiles(search_paths: Sequence[Path] = ()) -> list[tuple[str, Path, str]]:
    """Every profile available by name: ``(name, path, one-line description)``, sorted."""
    import yaml

    found: dict[str, tuple[str, Path, str]] = {}
    for folder in (shipped_profiles_dir(), *map(Path, search_paths)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.yaml")):
            name = path.relative_to(folder).with_suffix("").as_posix()
            if name in found:
                continue
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError):
                data = {}
            description = str(data.get("description", "")).strip().splitlines() if isinstance(
                data, dict) else []
            found[name] = (name, path, description[0] if description else "")
    return [found[k] for k in sorted(found)]


# --------------------------------------------------------------------------- loading
def validate_profile_file(doc: LocatedYaml) -> ProfileFile:
    """``doc`` checked against the profile file schema; every error names its line."""
    try:
        parsed = ProfileFile.model_validate(doc.data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = list(err["loc"])
            if err["type"] == "extra_forbidden":
                message = f"unknown key {loc[-1]!r}" if loc else "unknown key"
            elif loc and loc[0] in ("options", "remove_options") and \
                    err["type"] == "literal_error":
                message = f"unknown option {err.get('input')!r} (known: {', '.join(OPTIONS)})"
            else:
                message = err["msg"].removeprefix("Value error, ")
            errors.append(doc.error(message, loc))
        raise _one_or_all(errors) from None
    return parsed


def _one_or_all(errors: list[ProfileError]) -> ProfileError:
    """The error to raise for ``errors``: the one, or all of them."""
    return errors[0] if len(errors) == 1 else ProfileErrors(errors)


def _rule(doc: LocatedYaml, value: Any, loc: tuple[Any, ...]) -> TagRule:
    """A :class:`TagRule` from ``K`` or ``{action: K, value: ...}``; errors name the line."""
    if isinstance(value, str):
        value = {"action": value.strip()}
    if not isinstance(value, dict):
        raise doc.error("expected an action (D, Z, X, K, C, U...) or {action: ...}", loc)
    action = value.get("action")
    if isinstance(action, str):
        value = {**value, "action": action.strip().upper()}
        if value["action"] not in ACTIONS:
            raise doc.error(f"unknown action {action!r} (known: {', '.join(ACTIONS)})",
                            (*loc, "action") if (*loc, "action") in doc.lines else loc)
    try:
        return TagRule.model_validate(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        message = (f"unknown key {err['loc'][-1]!r}" if err["type"] == "extra_forbidden"
                   else err["msg"])
        raise doc.error(message, (*loc, *err["loc"])) from None


def tag_overrides(doc: LocatedYaml, parsed: ProfileFile) -> tuple[dict[str, TagRule],
                                                                dict[str, dict[str, TagRule]]]:
    """``(tags, private)``: a file's ``tags:`` and ``private:`` rules, parsed (all errors at
    once, each naming its line)."""
    tags: dict[str, TagRule] = {}
    private: dict[str, dict[str, TagRule]] = {}
    errors: list[ProfileError] = []
    for key, raw in parsed.tags.items():
        try:
            rule = _rule(doc, raw, ("tags", key))
            parsed_key = parse_tag_key(key)
        except ProfileError as exc:
            errors.append(exc)
            continue
        except ValueError as exc:
            errors.append(doc.error(str(exc), ("tags", key)))
            continue
        if parsed_key[0] == "private":
            _, group, creator, element = parsed_key
            private.setdefault(creator, {})[f"{group}:{element}"] = rule
        else:
            tags[parsed_key[1]] = rule
    for creator, elements in parsed.private.items():
        for key, raw in elements.items():
            try:
                rule = _rule(doc, raw, ("private", creator, key))
                element = _private_element_key(key)
            except ProfileError as exc:
                errors.append(exc)
                continue
            except ValueError as exc:
                errors.append(doc.error(str(exc), ("private", creator, key)))
                continue
            private.setdefault(str(creator), {})[element] = rule
    if errors:
        raise _one_or_all(errors)
    return tags, private


def _resolve(path: Path, search_paths: Sequence[Path], stack: tuple[Path, ...]) -> dict[str, Any]:
    if path in stack:
        chain = " -> ".join(p.name for p in (*stack, path))
        raise ProfileError(f"extends cycle: {chain}", file=str(path), field="extends")
    doc = LocatedYaml(path)
    parsed = validate_profile_file(doc)
    parents = parsed.extends
    parents = [parents] if isinstance(parents, str) else list(parents or [])
    merged: dict[str, Any] = {"extends": [], "options": [], "tags": {}, "private": {},
                              "plugins": {}, "local_hooks": [], "requires": []}
    for i, parent in enumerate(parents):
        where = ("extends", i) if isinstance(parsed.extends, list) else ("extends",)
        try:
            parent_path = find_profile_file(parent, search_paths, relative_to=path.parent)
        except ProfileError as exc:
            raise doc.error(str(exc), where) from None
        if parent_path in (*stack, path):
            chain = " -> ".join(p.name for p in (*stack, path, parent_path))
            raise doc.error(f"extends cycle: {chain}", where)
        base = _resolve(parent_path, search_paths, (*stack, path))
        base.pop("name", None)
        merged = _merge(merged, base)
        merged["extends"] = [*merged["extends"], parent]
    tags, private = tag_overrides(doc, parsed)
    own: dict[str, Any] = parsed.model_dump(exclude_unset=True, exclude={"extends", "tags",
                                                                         "private"})
    own["tags"] = tags
    own["private"] = private
    own["local_hooks"] = [str((path.parent / hook).resolve()) for hook in parsed.local_hooks]
    if "lookup" in own:
        own["lookup"] = resolve_files(own["lookup"], path.parent)
    if parsed.reversible is not None and parsed.reversible.recipient_certificate:
        own["reversible"]["recipient_certificate"] = _certificate_path(
            doc, parsed.reversible.recipient_certificate)
    remove = set(own.pop("remove_options", []))
    merged = _merge(merged, own)
    merged["options"] = [o for o in merged["options"] if o not in remove]
    return merged


def _certificate_path(doc: LocatedYaml, ref: str) -> str:
    """A recipient certificate named by a profile, resolved from the profile's folder (not
    the working directory); an error naming the line when there is no such file."""
    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = doc.path.parent / path
    if not path.is_file():
        raise doc.error(f"recipient certificate {ref!r} not found ({path})",
                        ("reversible", "recipient_certificate"))
    return str(path.resolve())


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if key in ("options", "requires", "local_hooks", "extends"):
            out[key] = list(dict.fromkeys([*out.get(key, []), *value]))
        elif key in ("filter", "lookup"):
            out[key] = [*out.get(key, []), *value]
        elif key in ("tags", "plugins"):
            merged = dict(out.get(key, {}))
            for k, v in value.items():
                if key == "plugins" and isinstance(merged.get(k), dict):
                    merged[k] = {**merged[k], **v}
                else:
                    merged[k] = v
            out[key] = merged
        elif key == "private":
            merged_p = {c: dict(e) for c, e in out.get("private", {}).items()}
            for creator, elements in value.items():
                merged_p.setdefault(creator, {}).update(elements)
            out["private"] = merged_p
        else:
            out[key] = value
    return out


def load_profile(ref: str | os.PathLike[str], search_paths: Sequence[Path] = (), *,
                 check_tables: bool = True) -> Profile:
    """Load and resolve a profile by path or by name (``ps3.15/basic``).

    Raises :class:`gantry.errors.ProfileError` naming file, line and field on any error
    (:class:`~gantry.errors.ProfileErrors` when a file has several). ``check_tables``: read
    and check the ``lookup:`` tables too.
    """
    path = find_profile_file(ref, search_paths)
    merged = _resolve(path, search_paths, ())
    merged.setdefault("name", _display_name(ref, path))
    merged["source"] = str(path)
    merged["options"] = [o for o in OPTIONS if o in merged.get("options", [])]
    if "retain-longitudinal-full-dates" in merged["options"] and \
            "retain-longitudinal-modified-dates" in merged["options"]:
        raise ProfileError("options retain-longitudinal-full-dates and "
                           "retain-longitudinal-modified-dates exclude each other",
                           file=str(path), field="options")
    low, high = merged.get("date_offset_days", (-3650, -365))
    if low > high:
        raise ProfileError("date_offset_days: the first bound must not exceed the second",
                           file=str(path), field="date_offset_days")
    try:
        profile = Profile.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ProfileError(err["msg"], file=str(path),
                           field=".".join(map(str, err["loc"]))) from None
    for spec in profile.lookup if check_tables else ():
        load_table(spec)  # checked now, with the CSV's line numbers
    return profile


def locate(profile: Profile, key: str, item: str | None = None,
           search_paths: Sequence[Path] = ()) -> tuple[str | None, int | None]:
    """Where a resolved profile got ``key`` (or the list entry ``item`` of ``key``): the file
    and line, searching the profile's own file and then the files it extends; the profile's
    file without a line when no file names it."""
    seen: set[Path] = set()

    def search(path: Path) -> tuple[str | None, int | None] | None:
        if path in seen:
            return None
        seen.add(path)
        try:
            doc = LocatedYaml(path)
        except ProfileError:
            return None
        value = doc.data.get(key)
        if item is None and value is not None:
            return str(path), doc.line((key,))
        if item is not None and isinstance(value, list) and item in value:
            return str(path), doc.line((key, value.index(item)))
        parents = doc.data.get("extends") or []
        for parent in [parents] if isinstance(parents, str) else list(parents):
            try:
                found = search(find_profile_file(parent, search_paths, relative_to=path.parent))
            except ProfileError:
                continue
            if found is not None:
                return found
        return None

    if profile.source:
        found = search(Path(profile.source))
        if found is not None:
            return found
    return profile.source, None


def _display_name(ref: str | os.PathLike[str], path: Path) -> str:
    text = os.fspath(ref)
    if not text.endswith((".yaml", ".yml")) and not os.path.isfile(text):
        return text
    try:
        return path.relative_to(shipped_profiles_dir().resolve()).with_suffix("").as_posix()
    except ValueError:
        return path.stem


__all__ = [
    "ACTIONS", "DEFAULT_PROFILE", "OPTIONS", "CleanSettings", "ExportTargetModel", "LocatedYaml",
    "Profile", "ProfileFile", "ReversibleSettings", "TagRule", "find_profile_file", "line_of",
    "list_profiles", "load_profile", "parse_tag_key", "shipped_profiles_dir", "tag_overrides",
    "validate_profile_file",
]
