"""Versions of the tool and its plugins, for reports."""

from __future__ import annotations

from typing import Any


def tool_versions() -> dict[str, Any]:
    """Gantry, pydicom and Python versions, and every loaded plugin with its version."""
    import platform

    import pydicom

    from gantry import __version__
    from gantry_reports import __version__ as reports_version

    plugins: list[dict[str, str]] = []
    try:
        from gantry.api import build_plugin_manager

        for info in build_plugin_manager().plugins(include_builtin=False):
            plugins.append({"name": info.name, "version": info.version,
                            "distribution": info.distribution, "status": info.status})
    except Exception as exc:  # listing plugins must never stop a report
        plugins.append({"name": "?", "version": "", "distribution": "",
                        "status": f"could not list plugins: {exc}"})
    return {"gantry": __version__, "gantry-reports": reports_version,
            "pydicom": pydicom.__version__, "python": platform.python_version(),
            "plugins": plugins}
