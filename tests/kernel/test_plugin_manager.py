"""The plugin manager: defaults, entry points, blocking, allow-lists, conflicts, local hooks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gantry import hookimpl
from gantry.components import Redactor
from gantry.errors import ComponentNotFound, PluginError
from gantry.plugins import DEFAULT_PLUGINS, build_plugin_manager


def test_builtins_are_registered_like_plugins() -> None:
    hooks = build_plugin_manager(load_entrypoints=False, env={})
    names = {p.name for p in hooks.plugins(include_builtin=True)}
    assert set(DEFAULT_PLUGINS) <= names
    assert "dicom" in hooks.components("exporter")
    assert "folder" in hooks.components("ingestor")
    assert "local" in hooks.components("executor")
    assert "memory" in hooks.components("store")
    assert hooks.component("exporter", "dicom").plugin == "dicom-export"


def test_empty_manager_has_no_components(gantry_pm) -> None:
    assert gantry_pm.components("redactor") == {}
    with pytest.raises(ComponentNotFound, match="no redactor named 'x'"):
        gantry_pm.component("redactor", "x")


def test_duplicate_component_names_are_an_error_naming_both(gantry_pm) -> None:
    class A:
        @hookimpl
        def gantry_redactors(self):
            yield Redactor("same-name", factory=lambda run: None)

    class B:
        @hookimpl
        def gantry_redactors(self):
            yield Redactor("same-name", factory=lambda run: None)

    gantry_pm.pm.register(A(), name="plugin-a")
    gantry_pm.pm.register(B(), name="plugin-b")
    with pytest.raises(PluginError, match=r"'same-name' is registered twice.*plugin-a.*plugin-b"):
        gantry_pm.components("redactor")


def test_component_names_must_be_kebab_case() -> None:
    with pytest.raises(ValueError, match="lower-kebab"):
        Redactor("Bad Name", factory=lambda run: None)


def test_required_plugin_missing_fails_closed() -> None:
    with pytest.raises(PluginError, match="required plugin 'gantry-nonexistent' is not installed"):
        build_plugin_manager(required=["gantry-nonexistent"], env={})


def test_blocked_builtin_is_listed_as_blocked() -> None:
    hooks = build_plugin_manager(block=["dicom-export"], load_entrypoints=False, env={})
    assert "dicom" not in hooks.components("exporter")
    info = hooks.find_plugin("dicom-export")
    assert info is not None and info.status == "blocked"
    with pytest.raises(PluginError, match="required plugin 'dicom-export' is blocked"):
        hooks.require(["dicom-export"])


def test_local_hooks_file_is_registered_last_and_wins_decisions(tmp_path: Path) -> None:
    path = tmp_path / "site_hooks.py"
    path.write_text(textwrap.dedent("""
        from gantry import hookimpl

        @hookimpl
        def gantry_date_offset(patient, run):
            return -42
    """))
    hooks = build_plugin_manager(local_hooks=[path], load_entrypoints=False, env={})
    info = hooks.find_plugin("local:site_hooks.py")
    assert info is not None and info.status == "local"
    assert hooks.date_offset(patient=None, run=None) == -42  # type: ignore[arg-type]


def test_broken_local_hooks_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(PluginError, match=r"broken.py failed to load: RuntimeError: boom"):
        build_plugin_manager(local_hooks=[path], load_entrypoints=False, env={})


def _run_py(code: str, env: dict[str, str] | None = None) -> str:
    import os

    full_env = {**os.environ, **(env or {})}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=full_env, check=True)
    return out.stdout


def test_building_the_manager_imports_no_heavy_dependency() -> None:
    code = textwrap.dedent("""
        import sys, json, warnings
        warnings.simplefilter("ignore")
        from gantry.plugins import build_plugin_manager
        hooks = build_plugin_manager()
        for kind in ("ingestor", "auditor", "redactor", "store", "exporter", "executor",
                     "config-key"):
            hooks.components(kind)
        heavy = ["pynetdicom", "pytesseract", "nibabel", "pyarrow", "dask", "duckdb",
                 "distributed", "PIL", "pandas"]
        print(json.dumps([m for m in heavy if m in sys.modules]))
    """)
    assert json.loads(_run_py(code)) == []


def test_disabled_plugin_is_never_imported() -> None:
    code = textwrap.dedent("""
        import sys, json
        from importlib import metadata
        from gantry.plugins import build_plugin_manager
        eps = sorted(metadata.entry_points(group="gantry"), key=lambda e: e.name)
        target = eps[0]
        module = target.value.split(":")[0]
        import os
        os.environ["GANTRY_DISABLE_PLUGINS"] = target.name
        hooks = build_plugin_manager()
        print(json.dumps([target.name, module, module in sys.modules,
                          hooks.find_plugin(target.name).status]))
    """)
    name, module, imported, status = json.loads(_run_py(code))
    assert imported is False, f"{module} was imported although {name} was disabled"
    assert status == "blocked"


def test_load_plugins_allow_list_loads_only_the_named() -> None:
    code = textwrap.dedent("""
        import json
        from importlib import metadata
        from gantry.plugins import build_plugin_manager
        eps = sorted({e.name for e in metadata.entry_points(group="gantry")})
        hooks = build_plugin_manager(env={"GANTRY_LOAD_PLUGINS": eps[0]})
        print(json.dumps({p.name: p.status for p in hooks.plugins() if p.name in eps}))
    """)
    statuses = json.loads(_run_py(code))
    loaded = [n for n, s in statuses.items() if s == "loaded"]
    assert len(loaded) == 1
    assert all(s == "blocked" for n, s in statuses.items() if n not in loaded)
