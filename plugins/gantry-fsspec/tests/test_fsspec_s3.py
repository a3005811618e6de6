"""``gantry deidentify s3://...`` against a real S3-compatible server (moto's, on loopback):
the output equals the same files' from a folder, with local workers and with Dask workers; an
unreachable endpoint is one clear error."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gantry.testing.factory import write_cohort

pytestmark = pytest.mark.component
moto_server = pytest.importorskip("moto.server", reason="pip install 'gantry-fsspec[test]'")
s3fs = pytest.importorskip("s3fs", reason="pip install 'gantry-fsspec[test]'")

SECRET = bytes(range(32)).hex()
KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"}


@pytest.fixture(scope="module")
def endpoint():
    """A moto S3 server on 127.0.0.1 (a free port), stopped after the module."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory, endpoint):
    """A small cohort on disk, and the same files under ``s3://gantry-in/study/``."""
    root = tmp_path_factory.mktemp("cohort")
    made = write_cohort(root / "in", patients=2, studies=1, series=2, instances=3,
                        rows=16, cols=16)
    fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint)
    fs.mkdir("gantry-in")
    for path in sorted(p for p in made.root.rglob("*") if p.is_file()):
        fs.pipe_file(f"gantry-in/study/{path.relative_to(made.root).as_posix()}",
                     path.read_bytes())
    fs.pipe_file("gantry-in/study/zz-not-dicom.txt", b"hello")
    return made.root


def _gantry(args: list[str], home: Path, endpoint: str) -> subprocess.CompletedProcess:
    gantry = Path(sys.executable).parent / "gantry"
    env = {**os.environ, **KEYS, "FSSPEC_S3_ENDPOINT_URL": endpoint,
           "GANTRY_HOME": str(home), "GANTRY_SECRET": SECRET,
           "XDG_CONFIG_HOME": str(home / "config")}
    return subprocess.run([str(gantry), *args], env=env, capture_output=True,
                          text=True, timeout=240)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _deidentify(src: str, dest: Path | str, home: Path, endpoint: str, *extra: str) -> str:
    done = _gantry(["deidentify", src, str(dest), "--profile", "ps3.15/basic",
                    "--workers", "2", *extra], home, endpoint)
    assert done.returncode == 3, done.stdout + done.stderr  # 3: the text file was skipped
    return done.stdout + done.stderr


def test_deidentify_from_s3_equals_from_a_folder(tmp_path, cohort, endpoint):
    (tmp_path / "folder-in").mkdir()
    for path in sorted(p for p in cohort.rglob("*") if p.is_file()):
        target = tmp_path / "folder-in" / path.relative_to(cohort)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    (tmp_path / "folder-in" / "zz-not-dicom.txt").write_bytes(b"hello")
    _deidentify(str(tmp_path / "folder-in"), tmp_path / "from-folder", tmp_path / "h1", endpoint)
    said = _deidentify("s3://gantry-in/study/", tmp_path / "from-s3", tmp_path / "h2", endpoint)
    assert "s3://gantry-in/study/zz-not-dicom.txt" in said  # the skipped input, by its URL
    got = _tree(tmp_path / "from-s3")
    assert sum(name.endswith(".dcm") for name in got) == 12
    assert got == _tree(tmp_path / "from-folder")
    # the same command again resumes: nothing left to do, nothing rewritten
    again = _gantry(["deidentify", "s3://gantry-in/study/", str(tmp_path / "from-s3"),
                     "--profile", "ps3.15/basic"], tmp_path / "h2", endpoint)
    assert again.returncode in (0, 3), again.stdout + again.stderr
    assert _tree(tmp_path / "from-s3") == got


def test_ingest_then_export_reopens_the_objects_by_url(tmp_path, cohort, endpoint):
    """``gantry ingest s3://...`` indexes the headers; ``gantry export`` later opens each
    object again by its URL and writes what ``deidentify`` writes."""
    db = f"sqlite:///{tmp_path / 'two-step.db'}"
    ingested = _gantry(["ingest", "s3://gantry-in/study/", "--db", db], tmp_path / "h1",
                       endpoint)
    assert ingested.returncode == 3, ingested.stdout + ingested.stderr  # the text file
    exported = _gantry(["export", str(tmp_path / "two-step"), "--db", db, "--profile",
                        "ps3.15/basic", "--workers", "2"], tmp_path / "h1", endpoint)
    # every instance written; the store still records the rejected text file: exit code 3
    assert exported.returncode == 3 and "12 done" in exported.stderr, \
        exported.stdout + exported.stderr
    _deidentify("s3://gantry-in/study/", tmp_path / "one-step", tmp_path / "h2", endpoint)
    two = {k: v for k, v in _tree(tmp_path / "two-step").items() if k.endswith(".dcm")}
    one = {k: v for k, v in _tree(tmp_path / "one-step").items() if k.endswith(".dcm")}
    assert len(two) == 12 and two == one


def _bucket_tree(endpoint: str, prefix: str) -> dict[str, bytes]:
    fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint,
                           skip_instance_cache=True)
    return {path[len(prefix) + 1:]: fs.cat_file(path) for path in sorted(fs.find(prefix))}


def test_deidentify_into_s3_writes_the_folder_layout(tmp_path, cohort, endpoint):
    """``gantry deidentify SRC s3://bucket/prefix`` puts the files a folder run writes, under
    the same names; the same command again resumes (nothing left to put); s3:// to s3://."""
    s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint).mkdir("gantry-out")
    _deidentify("s3://gantry-in/study/", tmp_path / "local", tmp_path / "h1", endpoint)
    _deidentify("s3://gantry-in/study/", "s3://gantry-out/run1", tmp_path / "h2", endpoint)
    local = _tree(tmp_path / "local")
    remote = _bucket_tree(endpoint, "gantry-out/run1")
    assert len([k for k in local if k.endswith(".dcm")]) == 12
    # the manifests are put through the same sink, read back from the objects as written:
    # the same bytes as the folder run's (they hold no time, run id or destination)
    assert {"manifest.csv", "manifest.json", "manifest.html"} <= set(remote)
    assert remote == local
    again = _gantry(["deidentify", "s3://gantry-in/study/", "s3://gantry-out/run1",
                     "--profile", "ps3.15/basic"], tmp_path / "h2", endpoint)
    assert again.returncode in (0, 3), again.stdout + again.stderr
    assert "ingest: 0 done, 13 skipped" in again.stderr
    assert _bucket_tree(endpoint, "gantry-out/run1") == remote
    # objects removed from the bucket since are put again by the same command
    fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint,
                           skip_instance_cache=True)
    for name in sorted(remote)[:3]:
        fs.rm_file(f"gantry-out/run1/{name}")
    redo = _gantry(["deidentify", "s3://gantry-in/study/", "s3://gantry-out/run1",
                    "--profile", "ps3.15/basic"], tmp_path / "h2", endpoint)
    assert redo.returncode in (0, 3), redo.stdout + redo.stderr
    assert "export: 3 done" in redo.stderr
    assert _bucket_tree(endpoint, "gantry-out/run1") == remote


def test_a_bucket_that_cannot_be_written_is_one_clear_error(tmp_path, cohort, endpoint):
    done = _gantry(["deidentify", "s3://gantry-in/study/", "s3://no-such-bucket/out",
                    "--profile", "ps3.15/basic"], tmp_path / "h", endpoint)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "s3://no-such-bucket/out: no bucket or container 'no-such-bucket'" in done.stderr
    assert "Traceback" not in done.stderr
    fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint,
                           skip_instance_cache=True)
    assert not fs.exists("no-such-bucket")  # not created as a side effect


@pytest.mark.slow
def test_dask_workers_read_and_write_s3_and_write_the_same_bytes(tmp_path, cohort, endpoint):
    """The issue's cluster case: inputs and outputs on URLs every Dask worker reaches."""
    s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint).mkdir("gantry-dask")
    _deidentify("s3://gantry-in/study/", tmp_path / "local", tmp_path / "h1", endpoint)
    _deidentify("s3://gantry-in/study/", tmp_path / "dask", tmp_path / "h2", endpoint,
                "--executor", "dask", "--executor-option", "threads_per_worker=1",
                "--executor-option", f"local_directory={tmp_path / 'dask-scratch'}")
    _deidentify("s3://gantry-in/study/", "s3://gantry-dask/out", tmp_path / "h3", endpoint,
                "--executor", "dask", "--executor-option", "threads_per_worker=1",
                "--executor-option", f"local_directory={tmp_path / 'dask-scratch2'}")
    local = _tree(tmp_path / "local")
    assert _tree(tmp_path / "dask") == local
    # the manifests too: put through the same sink, the folder run's bytes
    assert _bucket_tree(endpoint, "gantry-dask/out") == local


def test_an_unreachable_endpoint_is_one_clear_error(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    done = _gantry(["deidentify", "s3://gantry-in/study/", str(tmp_path / "out"),
                    "--profile", "ps3.15/basic"], tmp_path / "home", closed)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "s3://gantry-in/study/" in done.stderr and "cannot list" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.dcm"))
