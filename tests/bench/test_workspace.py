"""The benchmark harness's workspace: outputs set aside within a budget, bytecode compiled."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _workspace():
    spec = importlib.util.spec_from_file_location(
        "bench_workspace", ROOT / "bench" / "harness" / "workspace.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _output(root: Path, name: str, files: int = 3) -> Path:
    out = root / name
    (out / "sub").mkdir(parents=True)
    for n in range(files):
        (out / "sub" / f"{n}.dcm").write_bytes(b"x" * 10)
    return out


def test_outputs_are_set_aside_emptied_then_cleared(tmp_path: Path) -> None:
    ws = _workspace()
    aside = ws.SetAside(tmp_path / ".set-aside")
    first, second = _output(tmp_path, "tool-a"), _output(tmp_path, "tool-b")
    assert aside.remove(first) == "set aside"
    assert aside.remove(second) == "set aside"
    assert not first.exists() and not second.exists()
    kept = sorted(p.name for p in (tmp_path / ".set-aside").iterdir())
    assert kept == ["00000-tool-a", "00001-tool-b"]  # renamed, not deleted yet
    files = sorted((tmp_path / ".set-aside").rglob("*.dcm"))
    assert len(files) == 6 and all(f.stat().st_size == 0 for f in files)  # emptied
    # the same name can be set aside again (the next run of the same tool)
    assert aside.remove(_output(tmp_path, "tool-a")) == "set aside"
    aside.clear()
    assert not (tmp_path / ".set-aside").exists()
    assert aside.remove(tmp_path / "missing") == "absent"


def test_a_file_is_deleted_not_set_aside(tmp_path: Path) -> None:
    ws = _workspace()
    aside = ws.SetAside(tmp_path / ".set-aside")
    single = tmp_path / "file.log"
    single.write_text("x")
    assert aside.remove(single) == "deleted" and not single.exists()


def test_bytecode_is_written_for_gantry_and_its_plugins(tmp_path: Path) -> None:
    ws = _workspace()
    dirs = ws.gantry_source_dirs()
    assert (ROOT / "gantry").resolve() in {d.resolve() for d in dirs}
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text("VALUE = 1\n")
    assert ws.compile_bytecode([package])
    assert list((package / "__pycache__").glob("mod.*.pyc"))
    (package / "broken.py").write_text("def (:\n")
    assert not ws.compile_bytecode([package])
