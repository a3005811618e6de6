"""The project secret: from ``GANTRY_SECRET`` (hex), a secret file, or a generated default.

The default lives at ``$XDG_CONFIG_HOME/gantry/secret.key`` (``~/.config/gantry/secret.key``),
created on first use with mode 0600. A secret file inside a forbidden folder (the output), a
secret file other users can read or write, and a guessable secret (all zero, a byte repeated:
fewer than :data:`MIN_DISTINCT` distinct byte values) are refused. The secret is never logged
or written into any output.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

from gantry.errors import GantryError

MIN_BYTES = 16


class SecretError(GantryError):
    """The secret is missing, malformed, too short or stored in a forbidden place."""


def default_secret_path(env: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CONFIG_HOME/gantry/secret.key`` (default ``~/.config/gantry/secret.key``)."""
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gantry" / "secret.key"


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(Path(folder).resolve())
        return True
    except ValueError:
        return False


#: A secret with fewer distinct byte values than this is refused as guessable.
MIN_DISTINCT = 4


def check_secret(value: bytes, origin: str = "the secret") -> bytes:
    """``value`` unless it is too short or guessable (all zero, one byte repeated, a few
    values cycling): keyed pseudonyms, UIDs and date shifts are only as unlinkable as the
    secret is unguessable. Raises :class:`SecretError` (one line)."""
    if len(value) < MIN_BYTES:
        raise SecretError(f"{origin}: the secret must be at least {MIN_BYTES} bytes")
    if len(set(value)) < MIN_DISTINCT:
        raise SecretError(f"{origin}: the secret is guessable (only {len(set(value))} "
                          "distinct byte value(s), e.g. all zero); use 32 random bytes "
                          "(python -c 'import secrets; print(secrets.token_hex(32))')")
    return value


def check_secret_file(path: Path) -> None:
    """Refuse a secret file other users can read or write (one line naming the fix)."""
    if os.name != "posix":
        return
    mode = path.stat().st_mode & 0o777
    if mode & 0o007:
        raise SecretError(f"{path}: the secret file is accessible to other users (mode "
                          f"{mode:04o}); run chmod 600 {path}")


def _parse(text: str, origin: str) -> bytes:
    text = text.strip()
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise SecretError(f"{origin}: the secret must be hexadecimal") from None
    return check_secret(value, origin)


def resolve_secret(*, secret_file: str | None = None, env: Mapping[str, str] = os.environ,
                   forbidden_dirs: Sequence[Path] = ()) -> bytes:
    """The project secret (bytes), from the environment, a file, or the generated default."""
    if env.get("GANTRY_SECRET"):
        return _parse(env["GANTRY_SECRET"], "GANTRY_SECRET")
    chosen = secret_file or env.get("GANTRY_SECRET_FILE")
    path = Path(chosen).expanduser() if chosen else default_secret_path(env)
    for folder in forbidden_dirs:
        if _inside(path, Path(folder)):
            raise SecretError("the secret file must not be inside the output folder")
    if path.is_file():
        value = _parse(path.read_text(encoding="ascii", errors="replace"), str(path))
        check_secret_file(path)
        return value
    if chosen:
        raise SecretError(f"secret file {path} does not exist")
    from gantry.workstore import private_dir

    private_dir(path.parent)  # every folder made for it owner-only, parents included
    value = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value.hex() + "\n")
    return value
