"""An ingestor's ``discover`` may yield a Rejection: an input found but not fetched."""

from __future__ import annotations

from gantry import Session, hookimpl
from gantry.api import Ingestor, Rejection


def _no_bytes(source: str) -> None:
    raise OSError(f"{source}: nothing to open")


class _Remote:
    @hookimpl
    def gantry_ingestors(self):
        def discover(uri, run):
            yield Rejection(f"{uri}/a", "not retrieved: the peer failed to send it")
            yield Rejection(f"{uri}/b", "not retrieved: association aborted")

        yield Ingestor("remote-test", schemes=("remotetest",), discover=discover,
                       open=_no_bytes)


def test_rejections_from_discover_are_recorded_and_the_run_goes_on() -> None:
    with Session("memory://", workers=1) as session:
        session.hooks.register(_Remote(), name="remote-test-plugin")
        summary = session.ingest("remotetest://peer")
        rejected = list(session.store.iter_rejected())
        events = [e.kind for e in session.store.iter_events()]
    assert (summary.done, summary.rejected) == (0, 2)
    assert summary.errors == ["remotetest://peer/a: not retrieved: the peer failed to send it",
                              "remotetest://peer/b: not retrieved: association aborted"]
    assert {(r.source, r.stage) for r in rejected} == {("remotetest://peer/a", "ingest"),
                                                      ("remotetest://peer/b", "ingest")}
    assert events.count("rejected") == 2
