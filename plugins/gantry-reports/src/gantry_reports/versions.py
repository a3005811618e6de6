"""Versions of the tool and its plugins, for reports."""

from __future__ import annotations

from typing import Any


def tool_versions(hooks: Any = None) -> dict[str, Any]:
    """Gantry, pydicom and Python versions, and every plugin with its version: those of
    ``hooks``, the run's plugin manager, when given (else of a new one)."""
    import platform

    import pydicom

    from gantry import __version__
    from gantry_reports import __version__ as reports_version

    plugins: list[dict[str, str]] = []
    try:
        if hooks is None:
            from gantry.api import build_plugin_manager

            hooks = build_plugin_manager()
        for info in hooks.plugins(include_builtin=False):
            plugins.append({"name": info.name, "version": info.version,
                            "distribution": info.distribution, "status": info.status})
    except Exception as exc:  # listing plugins must never stop a report
        plugins.append({"name": "?", "version": "", "distribution": "",
                        "status": f"could not list plugins: {exc}"})
    return {"gantry": __version__, "gantry-reports": reports_version,
            "pydicom": pydicom.__version__, "python": platform.python_version(),
            "plugins": plugins}
