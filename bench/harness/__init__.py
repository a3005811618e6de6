"""The benchmark harness behind ``python -m bench``: corpora, tools, measurement, checks, report."""
