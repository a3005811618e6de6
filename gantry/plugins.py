"""The plugin manager: built-in default plugins, entry points, local hook files, and a typed facade.

Loading order (see ``docs/architecture.md``):

1. blocked names (``GANTRY_DISABLE_PLUGINS``, ``block=``) are set *before* anything is imported;
2. the kernel's :data:`DEFAULT_PLUGINS`, registered exactly like third-party ones;
3. entry points of the ``gantry`` group, in sorted name order, one at a time; a plugin that fails
   to import warns and is listed as failed (unless the profile ``requires:`` it: fail closed);
4. a profile's ``local_hooks:`` files, last.

Nothing heavy is imported here: plugin modules import pyarrow, pytesseract, dask and friends
inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from gantry import hookspecs
from gantry.components import (
    Auditor,
    Component,
    ConfigKey,
    Executor,
    Exporter,
    Ingestor,
    Redactor,
    StoreBackend,
)
from gantry.errors import ComponentNotFound, ExportError, PluginError

if TYPE_CHECKING:
    import click

    from gantry.context import Run
    from gantry.model import Instance
    from gantry.ownfiles import OwnFile
    from gantry.records import Change, ExportRecord, PatientKey, Pseudonym

ENTRY_POINT_GROUP = "gantry"

#: The kernel's own behaviour, registered as plugins (name → module).
DEFAULT_PLUGINS: dict[str, str] = {
    "folder": "gantry.builtins.folder_ingest",
    "memory": "gantry.builtins.memory_store",
    "deid": "gantry.builtins.deid",
    "lookup": "gantry.builtins.lookup",
    "dicom-export": "gantry.builtins.dicom_export",
    "local-executor": "gantry.builtins.local_executor",
}

#: Registration hooks → the record type they yield.
COMPONENT_HOOKS: dict[str, tuple[str, type[Component]]] = {
    "ingestor": ("gantry_ingestors", Ingestor),
    "auditor": ("gantry_auditors", Auditor),
    "redactor": ("gantry_redactors", Redactor),
    "store": ("gantry_stores", StoreBackend),
    "exporter": ("gantry_exporters", Exporter),
    "executor": ("gantry_executors", Executor),
    "config-key": ("gantry_config_keys", ConfigKey),
}


@dataclass
class PluginInfo:
    """What ``gantry plugins`` shows about one plugin."""

    name: str
    module: str
    version: str = ""
    distribution: str = ""
    status: str = "loaded"  # loaded | builtin | blocked | failed | local
    error: str = ""
    hooks: list[str] = field(default_factory=list)
    components: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for ``--json``."""
        return {
            "name": self.name, "module": self.module, "version": self.version,
            "distribution": self.distribution, "status": self.status, "error": self.error,
            "hooks": self.hooks, "components": self.components,
        }


def _csv_env(env: Mapping[str, str], key: str) -> list[str]:
    return [part.strip() for part in env.get(key, "").split(",") if part.strip()]


def build_plugin_manager(*, block: Iterable[str] = (), allow: Iterable[str] | None = None,
                         required: Iterable[str] = (), local_hooks: Iterable[str | Path] = (),
                         load_entrypoints: bool = True, defaults: bool = True,
                         env: Mapping[str, str] | None = None) -> GantryHooks:
    """Build a plugin manager and wrap it in a :class:`GantryHooks` facade.

    ``block`` adds to ``GANTRY_DISABLE_PLUGINS``; ``allow`` (or ``GANTRY_LOAD_PLUGINS``) loads only
    the named entry-point plugins; ``required`` names plugins that must load (fail closed).
    """
    env = os.environ if env is None else env
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    blocked = set(block) | set(_csv_env(env, "GANTRY_DISABLE_PLUGINS"))
    allow_env = _csv_env(env, "GANTRY_LOAD_PLUGINS")
    allowed = set(allow) if allow is not None else (set(allow_env) if allow_env else None)
    hooks = GantryHooks(pm)
    for name in sorted(blocked):
        pm.set_blocked(name)
    if defaults:
        for name, module in DEFAULT_PLUGINS.items():
            if pm.is_blocked(name):
                hooks._infos[name] = PluginInfo(name, module, status="blocked")
                continue
            hooks._register_module(name, importlib.import_module(module), status="builtin")
    if load_entrypoints:
        hooks._load_entrypoints(allowed)
    hooks.require(required)
    for path in local_hooks:
        hooks.register_local_hooks(path)
    pm.check_pending()
    return hooks


_ENTRY_POINTS: dict[tuple[tuple[str, int], ...], list[metadata.EntryPoint]] = {}


def _entry_points() -> list[metadata.EntryPoint]:
    """The ``gantry`` entry points installed, by name: read again only when the search path
    or one of its folders changed (listing them reads every installed distribution's
    metadata; a session builds several managers; installing a package changes its folder)."""
    key = tuple((entry, _mtime_ns(entry)) for entry in sys.path)
    found = _ENTRY_POINTS.get(key)
    if found is None:
        found = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
        _ENTRY_POINTS.clear()
        _ENTRY_POINTS[key] = found
    return found


def _mtime_ns(path: str) -> int:
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return -1


class GantryHooks:
    """Typed facade over the pluggy manager: core code never calls ``pm.hook.x`` directly."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._infos: dict[str, PluginInfo] = {}
        self._components: dict[str, dict[str, Component]] | None = None
        #: messages of lifecycle observers that raised (the run went on without them)
        self.observer_errors: list[str] = []

    # -- loading ---------------------------------------------------------------------------------
    def _register_module(self, name: str, module: ModuleType, *, status: str,
                         distribution: str = "", version: str = "") -> None:
        from gantry import __version__

        self.pm.register(module, name=name)
        self._infos[name] = PluginInfo(
            name=name, module=module.__name__, status=status,
            distribution=distribution or ("gantry-dicom" if status == "builtin" else ""),
            version=version or (__version__ if status == "builtin" else ""),
        )
        self._components = None

    def _load_entrypoints(self, allowed: set[str] | None) -> None:
        eps = _entry_points()
        seen: set[str] = set()
        for ep in eps:
            if ep.name in seen:
                continue  # the same distribution seen twice on sys.path
            seen.add(ep.name)
            dist = ep.dist.name if ep.dist else ""
            version = ep.dist.version if ep.dist else ""
            if self.pm.is_blocked(ep.name) or (dist and self.pm.is_blocked(dist)) or (
                allowed is not None and ep.name not in allowed and dist not in allowed
            ):
                self._infos[ep.name] = PluginInfo(ep.name, ep.value, version, dist, "blocked")
                continue
            try:
                module = ep.load()
                self._register_module(ep.name, module, status="loaded", distribution=dist,
                                      version=version)
            except Exception as exc:  # one broken plugin must not take the others down
                self._infos[ep.name] = PluginInfo(ep.name, ep.value, version, dist, "failed",
                                                  error=f"{type(exc).__name__}: {exc}")
                warnings.warn(f"gantry plugin {ep.name!r} ({dist or ep.value}) failed to load: "
                              f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=2)

    def require(self, names: Iterable[str]) -> None:
        """Fail closed unless every named plugin (entry-point or distribution name) is loaded."""
        for wanted in names:
            info = self.find_plugin(wanted)
            if info is None:
                raise PluginError(f"required plugin {wanted!r} is not installed "
                                  f"(pip install {wanted})")
            if info.status not in ("loaded", "builtin", "local"):
                why = f": {info.error}" if info.error else ""
                raise PluginError(f"required plugin {wanted!r} is {info.status}{why}")

    def find_plugin(self, name: str) -> PluginInfo | None:
        """The plugin with this entry-point, module or distribution name."""
        for info in self._infos.values():
            if name in (info.name, info.distribution, info.module):
                return info
        return None

    def register_local_hooks(self, path: str | Path) -> None:
        """Register a site's own Python file of hookimpls (a profile's ``local_hooks:``)."""
        path = Path(path)
        if not path.is_file():
            raise PluginError(f"local hooks file not found: {path}")
        # a stable name (not hash(), which differs per process): every process of a run,
        # and every run, names the same file alike
        digest = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogatepass"))
        mod_name = f"gantry_local_hooks_{digest.hexdigest()[:16]}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise PluginError(f"cannot load local hooks file: {path}")
        module = importlib.util.module_from_spec(spec)
        try:
            sys.modules[mod_name] = module
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(mod_name, None)
            raise PluginError(f"local hooks file {path} failed to load: "
                              f"{type(exc).__name__}: {exc}") from exc
        name = f"local:{path.name}"
        if self.pm.get_plugin(name) is not None:
            return
        self._register_module(name, module, status="local")
        self.pm.check_pending()

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object after the manager was built (tests, notebooks); the
        component lists are rebuilt on next use. Worker processes do not see it: installed
        plugins and ``local_hooks:`` files are the way to reach them."""
        self.pm.register(plugin, name=name)
        self._components = None

    def unregister(self, plugin: object) -> None:
        """Undo :meth:`register`."""
        self.pm.unregister(plugin)
        self._components = None

    # -- listing ---------------------------------------------------------------------------------
    def plugins(self, *, include_builtin: bool = False) -> list[PluginInfo]:
        """Every plugin seen, with hooks and components (built-ins with ``include_builtin``)."""
        components = self._collect()
        by_plugin: dict[str, dict[str, list[str]]] = {}
        for kind, records in components.items():
            for rec in records.values():
                by_plugin.setdefault(rec.plugin, {}).setdefault(kind, []).append(rec.name)
        out = []
        for name, info in self._infos.items():
            if info.status == "builtin" and not include_builtin:
                continue
            plugin = self.pm.get_plugin(name)
            if plugin is not None:
                info.hooks = sorted(impl.name for impl in self.pm.get_hookcallers(plugin) or ())
            info.components = {k: sorted(v) for k, v in sorted(by_plugin.get(name, {}).items())}
            out.append(info)
        return sorted(out, key=lambda i: (i.status != "builtin", i.name))

    # -- components ------------------------------------------------------------------------------
    def _collect(self) -> dict[str, dict[str, Component]]:
        if self._components is not None:
            return self._components
        collected: dict[str, dict[str, Component]] = {}
        for kind, (hook_name, record_type) in COMPONENT_HOOKS.items():
            records: dict[str, Component] = {}
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():  # registration order
                try:
                    result = impl.function()
                    items = list(result) if result is not None else []
                except Exception as exc:
                    raise PluginError(f"plugin {impl.plugin_name!r} failed in {hook_name}: "
                                      f"{type(exc).__name__}: {exc}") from exc
                for rec in items:
                    if not isinstance(rec, record_type):
                        raise PluginError(f"plugin {impl.plugin_name!r} yielded "
                                          f"{type(rec).__name__} from {hook_name}; expected "
                                          f"{record_type.__name__}")
                    object.__setattr__(rec, "plugin", impl.plugin_name)
                    if rec.name in records:
                        other = records[rec.name].plugin
                        raise PluginError(
                            f"{kind} {rec.name!r} is registered twice: by plugin {other!r} "
                            f"({self._describe(other)}) and by plugin {impl.plugin_name!r} "
                            f"({self._describe(impl.plugin_name)})")
                    records[rec.name] = rec
            collected[kind] = records
        self._components = collected
        return collected

    def _describe(self, plugin: str) -> str:
        info = self._infos.get(plugin)
        if info is None:
            return "unknown"
        return " ".join(x for x in (info.distribution or info.module, info.version) if x)

    def components(self, kind: str) -> dict[str, Component]:
        """Registered components of one kind (``redactor``, ``store``...), by name."""
        return dict(self._collect()[kind])

    def component(self, kind: str, name: str) -> Any:
        """One component by kind and name, or :class:`ComponentNotFound` listing what exists."""
        records = self._collect()[kind]
        if name not in records:
            known = ", ".join(sorted(records)) or "none"
            raise ComponentNotFound(f"no {kind} named {name!r} is registered (known: {known}); "
                                    "is the plugin that provides it installed?")
        return records[name]

    def ingestor_for(self, uri: str) -> Ingestor:
        """The ingestor whose schemes cover ``uri`` (plain paths are ``file``)."""
        scheme = uri_scheme(uri)
        for rec in self._collect()["ingestor"].values():
            if scheme in rec.schemes:  # type: ignore[attr-defined]
                return rec  # type: ignore[return-value]
        raise ComponentNotFound(f"no ingestor handles {scheme}:// inputs ({uri})")

    def exporter_for(self, fmt: str, destination: str) -> Exporter:
        """The exporter that writes format ``fmt`` to ``destination``: the one named ``fmt``,
        or one declaring ``format=fmt``, whose schemes cover the destination's (a URL no
        exporter can write to would otherwise be taken for a local folder's name)."""
        scheme = uri_scheme(destination)
        exporters = self._collect()["exporter"].values()
        candidates: list[Exporter] = sorted(  # type: ignore[assignment]
            (rec for rec in exporters if fmt in (rec.name, rec.format)),  # type: ignore[attr-defined]
            key=lambda rec: rec.name != fmt)  # the one named so first
        if not candidates:
            return self.component("exporter", fmt)  # type: ignore[return-value]  (raises)
        for exporter in candidates:
            if scheme in exporter.schemes:
                return exporter
        places = ", ".join(sorted({"local paths" if s == "file" else f"{s}://"
                                   for e in candidates for s in e.schemes})) or "nowhere"
        raise ExportError(f"{destination}: no {fmt} exporter writes to {scheme}:// "
                          f"destinations (installed: {places})")

    def store_backend_for(self, url: str) -> StoreBackend:
        """The store backend whose schemes cover ``url``."""
        scheme = uri_scheme(url)
        for rec in self._collect()["store"].values():
            if scheme in rec.schemes:  # type: ignore[attr-defined]
                return rec  # type: ignore[return-value]
        backends: list[StoreBackend] = list(self._collect()["store"].values())  # type: ignore[arg-type]
        installed = ", ".join(sorted(f"{s}://" for rec in backends for s in rec.schemes))
        hint = (f" (installed: {installed}; store plugins add others, e.g. pip install "
                "gantry-sqlite for sqlite://)")
        if scheme == "file":  # a plain file name: the URL it probably meant
            for rec in self._collect()["store"].values():
                suffix = getattr(rec, "file_suffix", None)
                if suffix and url.endswith(suffix):
                    scheme_of = rec.schemes[0]  # type: ignore[attr-defined]
                    hint = f": a store is named by URL, did you mean {scheme_of}:///{url}?"
                    break
        raise ComponentNotFound(f"no store backend handles {scheme}:// URLs{hint}")

    def own_files(self) -> list[OwnFile]:
        """Every kind of file Gantry writes beside its outputs: the kernel's and those the
        plugins declare (``gantry_own_files``)."""
        from gantry.ownfiles import KERNEL_OWN_FILES

        out = list(KERNEL_OWN_FILES)
        for result in self.pm.hook.gantry_own_files():
            out.extend(result or ())
        return out

    def profile_paths(self) -> list[Path]:
        """Folders plugins add to the profile search path."""
        out: list[Path] = []
        for result in self.pm.hook.gantry_profile_paths():
            out.extend(Path(p) for p in (result or ()))
        return out

    def store_profile(self, store: Any) -> list[dict[str, Any]]:
        """What ``gantry_store_profile`` adds to the profile for runs over ``store``."""
        out: list[dict[str, Any]] = []
        for result in self.pm.hook.gantry_store_profile(store=store):
            out.extend(dict(r) for r in (result or ()) if r)
        return out

    def add_commands(self, cli: click.Group) -> None:
        """Let plugins add sub-commands to the CLI; a plugin that fails there only warns."""
        for impl in self.pm.hook.gantry_commands.get_hookimpls():
            try:
                impl.function(cli)
            except Exception as exc:
                warnings.warn(f"gantry plugin {impl.plugin_name!r} could not add its commands: "
                              f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=2)

    # -- lifecycle -------------------------------------------------------------------------------
    def _notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call an observer hook implementation by implementation: one that raises is reported
        (warning + :attr:`observer_errors`) and the others still run; the run goes on."""
        impls = getattr(self.pm.hook, hook_name).get_hookimpls()
        if not impls:
            self.pm._hookexec(hook_name, [], kwargs, False)  # still seen by call monitoring
        for impl in reversed(impls):
            try:
                # one implementation at a time, through pluggy's executor so that call
                # monitoring (add_hookcall_monitoring, tracing) still sees every call
                self.pm._hookexec(hook_name, [impl], kwargs, False)
            except Exception as exc:
                message = (f"plugin {impl.plugin_name!r} failed in {hook_name}: "
                           f"{type(exc).__name__}: {exc}")
                self.observer_errors.append(message)
                warnings.warn(message, RuntimeWarning, stacklevel=3)

    def stage_started(self, stage: str, run: Run) -> None:
        """Call ``gantry_stage_started``."""
        self._notify("gantry_stage_started", stage=stage, run=run)

    def stage_finished(self, stage: str, run: Run, summary: dict[str, Any]) -> None:
        """Call ``gantry_stage_finished``."""
        self._notify("gantry_stage_finished", stage=stage, run=run, summary=summary)

    def stage_failed(self, stage: str, run: Run, error: BaseException,
                     plugin: str | None = None) -> None:
        """Call ``gantry_stage_failed``."""
        self._notify("gantry_stage_failed", stage=stage, run=run, error=error, plugin=plugin)

    def instance_ingested(self, instance: Instance, run: Run) -> None:
        """Call ``gantry_instance_ingested``."""
        self._notify("gantry_instance_ingested", instance=instance, run=run)

    def instance_redacted(self, instance: Instance, changes: Sequence[Change], run: Run) -> None:
        """Call ``gantry_instance_redacted``."""
        self._notify("gantry_instance_redacted", instance=instance, changes=list(changes),
                     run=run)

    def exported(self, record: ExportRecord, run: Run) -> None:
        """Call ``gantry_exported``."""
        self._notify("gantry_exported", record=record, run=run)

    # -- decisions -------------------------------------------------------------------------------
    def map_uid(self, uid: str, run: Run) -> str | None:
        """First non-None ``gantry_map_uid``."""
        return self.pm.hook.gantry_map_uid(uid=uid, run=run)

    def pseudonym(self, patient: PatientKey, run: Run) -> Pseudonym | None:
        """First non-None ``gantry_pseudonym``."""
        return self.pm.hook.gantry_pseudonym(patient=patient, run=run)

    def date_offset(self, patient: PatientKey, run: Run) -> int | None:
        """First non-None ``gantry_date_offset``."""
        return self.pm.hook.gantry_date_offset(patient=patient, run=run)

    def withhold(self, instance: Instance, header: Any, run: Run) -> str | None:
        """First non-None ``gantry_withhold`` (``None`` at once when nobody implements it)."""
        caller = self.pm.hook.gantry_withhold
        if not caller.get_hookimpls():
            return None
        return caller(instance=instance, header=header, run=run)

    def instance_table(self, session: Any, form: str, query: str | None,
                       columns: list[str] | None) -> Any | None:
        """First non-None ``gantry_instance_table``: the working store's instances as a table
        of ``form`` (``arrow``, ``pandas``), or ``None`` when no plugin makes one."""
        return self.pm.hook.gantry_instance_table(session=session, form=form, query=query,
                                                  columns=columns)


def uri_scheme(uri: str) -> str:
    """The scheme of a URI; plain paths (and Windows drive letters) are ``file``."""
    head, sep, _ = uri.partition("://")
    if not sep or len(head) < 2 or not head.replace("+", "").replace("-", "").isalnum():
        return "file"
    return head.lower()
