"""Render docs/hooks.md from the docstrings in gantry/hookspecs.py.

Run ``python scripts/gen_hooks_doc.py`` after changing a hook; ``tests/kernel/test_hooks_doc.py``
fails when the page and the specifications disagree.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gantry import hookspecs  # noqa: E402

KINDS = [
    ("Registration hooks", ["gantry_ingestors", "gantry_auditors", "gantry_redactors",
                            "gantry_stores", "gantry_exporters", "gantry_executors",
                            "gantry_profile_paths", "gantry_store_profile", "gantry_config_keys",
                            "gantry_own_files",
                            "gantry_commands"]),
    ("Lifecycle observers", ["gantry_stage_started", "gantry_stage_finished",
                             "gantry_stage_failed", "gantry_instance_ingested",
                             "gantry_instance_redacted", "gantry_exported"]),
    ("Decisions (first result wins)", ["gantry_map_uid", "gantry_pseudonym",
                                       "gantry_date_offset", "gantry_withhold",
                                       "gantry_instance_table"]),
]

INTRO = """# Hooks

Every hook Gantry calls, generated from `gantry/hookspecs.py` by `scripts/gen_hooks_doc.py`
(a test fails when this page and the specifications disagree). Implement a hook with a
module-level function of the same name decorated with `@hookimpl` (`from gantry import
hookimpl`); take only the arguments you need. Hooks are always called with keyword arguments.

* **Registration** hooks yield typed records (`gantry.records`); the kernel stamps the plugin
  that gave each and refuses two records of one kind with one name.
* **Lifecycle** observers return nothing.
* **Decisions** return a value or `None` to defer; the first non-`None` result wins. The kernel's
  keyed defaults are `trylast`, so an institution's hook (an honest broker, a master patient
  index) wins.
"""


def hook_names() -> list[str]:
    """Every hook specification in the kernel."""
    return sorted(n for n, f in vars(hookspecs).items()
                  if n.startswith("gantry_") and callable(f))


def render() -> str:
    """The whole page."""
    parts = [INTRO]
    listed = {n for _, names in KINDS for n in names}
    missing = set(hook_names()) - listed
    if missing:
        raise SystemExit(f"hooks not placed in a section: {sorted(missing)}")
    for title, names in KINDS:
        parts.append(f"\n## {title}\n")
        for name in names:
            func = getattr(hookspecs, name)
            signature = str(inspect.signature(func)).replace("'", "")
            doc = inspect.cleandoc(func.__doc__ or "")
            parts.append(f"\n### `{name}{signature}`\n\n{_rst_to_md(doc)}\n")
    return "".join(parts)


def _rst_to_md(doc: str) -> str:
    out: list[str] = []
    in_code = False
    for line in doc.splitlines():
        if line.rstrip().endswith("::") and not in_code:
            out.append(line.rstrip()[:-1])
            out.append("")
            out.append("```python")
            in_code = True
            continue
        if in_code and line and not line.startswith("    "):
            out.append("```")
            in_code = False
        out.append(line[4:] if in_code else line.replace("``", "`"))
    if in_code:
        while out and not out[-1].strip():
            out.pop()
        out.append("```")
    return "\n".join(out).replace("```python\n\n", "```python\n")


if __name__ == "__main__":
    (ROOT / "docs" / "hooks.md").write_text(render())
    print("wrote docs/hooks.md")
