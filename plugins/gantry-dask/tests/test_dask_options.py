"""Option parsing of the dask executor (no cluster needed)."""

from __future__ import annotations

import pytest
from gantry_dask.options import ADDRESS_ENV, DaskOptionError, DaskOptions


def test_strings_from_the_command_line_are_converted():
    opts = DaskOptions.parse({"workers": "3", "threads-per-worker": "2", "processes": "false",
                              "timeout": "2.5"})
    assert (opts.workers, opts.threads_per_worker, opts.processes, opts.timeout) == (3, 2, False,
                                                                                     2.5)


def test_n_workers_is_an_alias_of_workers():
    assert DaskOptions.parse(n_workers=4).workers == 4


def test_unknown_option_is_named():
    with pytest.raises(DaskOptionError, match="'wrokers' is unknown"):
        DaskOptions.parse({"wrokers": 2})


@pytest.mark.parametrize(("key", "value", "message"), [
    ("workers", "two", "'workers' must be an integer"),
    ("workers", "0", "'workers' must be at least 1"),
    ("processes", "maybe", "'processes' must be true or false"),
    ("timeout", "-1", "'timeout' must be positive"),
    ("address", "nonsense", "'address' must look like"),
])
def test_bad_values_are_named(key, value, message):
    with pytest.raises(DaskOptionError, match=message):
        DaskOptions.parse({key: value})


def test_address_falls_back_to_the_environment(monkeypatch):
    monkeypatch.setenv(ADDRESS_ENV, "tcp://10.0.0.5:8786")
    assert DaskOptions.parse().address == "tcp://10.0.0.5:8786"
    assert DaskOptions.parse(address="tcp://h:1").address == "tcp://h:1"


def test_plugin_module_registers_the_executor_without_importing_dask():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import gantry_dask.plugin as p\n"
        "records = list(p.gantry_executors())\n"
        "assert [r.name for r in records] == ['dask'], records\n"
        "heavy = [m for m in ('dask', 'distributed', 'pyarrow') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
