"""The tools the harness runs: gantry, the floors (``cp -r``, a pydicom loop on one process and on
every core, a plain-Python byte rewriter on every core) and the peers.

Each peer is installed once into its own venv under the bench cache (``venvs/<name>``) from the
package index, or from Debian (``gdcmanon``); a peer that cannot be installed is reported as
unavailable with the reason, never silently dropped.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DRIVERS = Path(__file__).parent / "drivers"

#: Peers in the order they are reported.
PEERS = ("dicognito", "dicom-anonymizer", "deid", "idiscore", "dcmanon", "gdcmanon")
FLOORS = ("cp", "pydicom", "pydicom-cores", "byte-floor")


@dataclass
class Tool:
    """A runnable tool: ``command(src, dst)`` gives its argv; ``error`` says why not."""

    name: str
    kind: str  # "gantry", "variant" (gantry with other options), "floor" or "peer"
    version: str = ""
    command: Callable[[Path, Path], list[str]] | None = None
    error: str = ""
    env: dict[str, str] = field(default_factory=dict)
    notes: str = ""
    #: folders wiped before every run (state that would let a tool resume instead of working)
    scratch: list[Path] = field(default_factory=list)

    @property
    def available(self) -> bool:
        """Whether the tool can be run."""
        return self.command is not None and not self.error


def _run(argv: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def _venv(cache: Path, name: str, requirement: str, log=print) -> tuple[Path | None, str, str]:
    """A venv with ``requirement`` installed: (python path, version, error)."""
    root = cache / "venvs" / name
    python = root / "bin" / "python"
    marker = root / ".installed"
    if not marker.exists():
        log(f"installing {requirement} into {root} ...")
        if root.exists():
            shutil.rmtree(root)
        made = _run([sys.executable, "-m", "venv", str(root)])
        if made.returncode:
            return None, "", f"venv failed: {made.stderr.strip()[-300:]}"
        pip = _run([str(python), "-m", "pip", "install", "-q", requirement])
        if pip.returncode:
            lines = [ln for ln in pip.stderr.splitlines() if not ln.startswith("WARNING")]
            return None, "", f"pip install {requirement} failed: {' '.join(lines)[-300:]}"
        marker.write_text(requirement)
    dist = requirement.split("=")[0].split("<")[0].split(">")[0]
    shown = _run([str(python), "-m", "pip", "show", dist])
    version = next((ln.split(":", 1)[1].strip() for ln in shown.stdout.splitlines()
                    if ln.startswith("Version:")), "")
    return python, version, ""


def _gdcmanon(cache: Path, install: bool, log=print) -> Tool:
    tool = Tool("gdcmanon", "peer", notes="C++ (GDCM), Debian libgdcm-tools, PS3.15 E.1.1 "
                                          "with an RSA certificate")
    exe = shutil.which("gdcmanon")
    if exe is None and install:
        if shutil.which("apt-get") is None:
            tool.error = "gdcmanon not found and apt-get is not available"
            return tool
        log("installing libgdcm-tools with apt-get ...")
        got = _run(["apt-get", "install", "-y", "--no-install-recommends", "libgdcm-tools"])
        if got.returncode:
            tool.error = f"apt-get install libgdcm-tools failed: {got.stderr.strip()[-300:]}"
            return tool
        exe = shutil.which("gdcmanon")
    if exe is None:
        tool.error = "gdcmanon not installed (apt-get install libgdcm-tools)"
        return tool
    certs = cache / "gdcm-cert"
    cert, key = certs / "cert.pem", certs / "key.pem"
    if not cert.exists():
        if shutil.which("openssl") is None:
            tool.error = "openssl is needed to make the certificate gdcmanon encrypts with"
            return tool
        certs.mkdir(parents=True, exist_ok=True)
        made = _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                     str(key), "-out", str(cert), "-days", "3650", "-subj", "/CN=gantry-bench"])
        if made.returncode:
            tool.error = f"openssl could not make a certificate: {made.stderr[-300:]}"
            return tool
    version = _run([exe, "--version"]).stdout.strip().split("\n")[0]
    tool.version = version.replace("gdcmanon:", "").replace("$Date$", "").strip()
    tool.command = lambda src, dst: [exe, "-e", "-c", str(cert), "-r", "--continue",
                                     "-i", str(src), "-o", str(dst)]
    return tool


def _python_peer(cache: Path, name: str, install: bool, log=print) -> Tool:
    notes = {
        "dicognito": "python -m dicognito --output-directory DST SRC",
        "dicom-anonymizer": "anonymize_dicom_file() per file, default rules",
        "deid": "replace_identifiers() with the default recipe, per folder",
        "idiscore": "create_default_core().deidentify() per file",
        "dcmanon": "Rust Anonymizer().anonymize() per file, default config",
    }[name]
    tool = Tool(name, "peer", notes=notes)
    root = cache / "venvs" / name
    if not install and not (root / ".installed").exists():
        tool.error = "not installed (run without --no-install)"
        return tool
    python, version, error = _venv(cache, name, name, log=log)
    if error or python is None:
        tool.error = error
        return tool
    tool.version = version
    py = str(python)
    if name == "dicognito":
        tool.command = lambda src, dst: [py, "-m", "dicognito", "--quiet",
                                         "--output-directory", str(dst), str(src)]
    else:
        driver = str(DRIVERS / f"{name.replace('-', '_')}_loop.py")
        tool.command = lambda src, dst: [py, driver, str(src), str(dst)]
    return tool


def floors() -> list[Tool]:
    """``cp -r``, a pydicom read+write loop in the harness's own interpreter, on one process
    and on every core (the same loop, files dealt to processes forked after the import), and
    the byte floor on every core (``drivers/byte_floor_loop.py``)."""
    import os

    import pydicom

    cp = Tool("cp", "floor", version="coreutils", notes="cp -r SRC DST (no de-identification)",
              command=lambda src, dst: ["cp", "-r", str(src), str(dst)])
    loop = Tool("pydicom", "floor", version=pydicom.__version__,
                notes="dcmread + save_as per file, one process (no de-identification)",
                command=lambda src, dst: [sys.executable, str(DRIVERS / "pydicom_loop.py"),
                                          str(src), str(dst)])
    cores = os.cpu_count() or 1
    spread = Tool("pydicom-cores", "floor", version=pydicom.__version__,
                  notes=f"the same loop on {cores} processes forked after the import, files "
                        "dealt round-robin (no de-identification)",
                  command=lambda src, dst: [sys.executable,
                                            str(DRIVERS / "pydicom_parallel_loop.py"),
                                            str(src), str(dst), str(cores)])
    byte_floor = Tool("byte-floor", "floor", version="python",
                      notes=f"plain-Python byte rewriter on {cores} processes: removes a fixed "
                            "list of top-level tags and private elements, no pydicom (a floor, "
                            "not a de-identifier)",
                      command=lambda src, dst: [sys.executable,
                                                str(DRIVERS / "byte_floor_loop.py"),
                                                str(src), str(dst), str(cores)])
    return [cp, loop, spread, byte_floor]


def gantry(profile: str, workers: int | None, extra: list[str], home: Path, *,
           name: str = "gantry") -> Tool:
    """``gantry deidentify SRC DST`` from the harness's own environment.

    ``GANTRY_HOME`` points at ``home``, wiped before each run: gantry keeps a resumable working
    store there, keyed by DEST, and a second run would otherwise skip what the first exported.
    """
    import gantry as gantry_pkg

    exe = shutil.which("gantry") or str(Path(sys.executable).parent / "gantry")
    tool = Tool(name, "gantry" if name == "gantry" else "variant",
                version=gantry_pkg.__version__,
                notes=f"gantry deidentify --profile {profile}"
                      + (f" --workers {workers}" if workers else "")
                      + (" " + " ".join(extra) if extra else ""))
    if not Path(exe).exists():
        tool.error = "the gantry command is not installed in this environment"
        return tool
    tool.env = {"GANTRY_HOME": str(home)}
    tool.scratch = [home]

    def command(src: Path, dst: Path) -> list[str]:
        argv = [exe, "deidentify", str(src), str(dst), "--profile", profile]
        if workers:
            argv += ["--workers", str(workers)]
        return argv + extra

    tool.command = command
    return tool


def peers(names: list[str], cache: Path, *, install: bool, log=print) -> list[Tool]:
    """The requested peers, installed when needed; failures become unavailable tools."""
    tools = []
    for name in names:
        if name not in PEERS:
            raise ValueError(f"--peers: {name!r} is not a known peer ({', '.join(PEERS)})")
        try:
            if name == "gdcmanon":
                tools.append(_gdcmanon(cache, install, log=log))
            else:
                tools.append(_python_peer(cache, name, install, log=log))
        except (OSError, subprocess.SubprocessError) as exc:
            tools.append(Tool(name, "peer", error=f"install failed: {exc}"))
    return tools
