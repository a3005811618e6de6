"""The console's server: token, CSRF, Host and read-only refusals; pages over a demo store;
nothing identifying in addresses or titles; originals only on an audited request."""

from __future__ import annotations

import html as html_lib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gantry_web.app import create_app
from gantry_web.console import PAGE_SIZE, Console
from gantry_web_kit import DemoStore, demo_store
from starlette.testclient import TestClient

from gantry import Session

TOKEN = "test-token-0123456789"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    import os

    os.environ.setdefault("GANTRY_SECRET", bytes(range(32)).hex())
    return demo_store(tmp_path_factory.mktemp("web-demo"))


def _client(demo: DemoStore, *, read_only: bool = False, hosts: set[str] | None = None,
            profile: str | None = None) -> tuple[TestClient, Console]:
    session = Session(demo.url, profile=profile or demo.profile, workers=1)
    console = Console(session, read_only=read_only, user="tester")
    app = create_app(console, TOKEN, hosts or set())
    client = TestClient(app, base_url="http://127.0.0.1:8765")
    return client, console


@pytest.fixture
def web(demo: DemoStore) -> Iterator[tuple[TestClient, Console]]:
    client, console = _client(demo)
    client.cookies.set("gantry_web", TOKEN)
    yield client, console
    console.session.close()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _links(html: str, prefix: str) -> list[str]:
    return re.findall(rf'href="(/{prefix}/[A-Za-z0-9_-]+)"', html)


def _crawl(client: TestClient) -> dict[str, str]:
    """Every page reachable from the patients list (patient → study → series → instance)."""
    pages: dict[str, str] = {}
    todo = ["/patients", "/search", "/decisions", "/zones", "/export"]
    while todo:
        url = todo.pop()
        if url in pages:
            continue
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        pages[url] = r.text
        for prefix in ("patients", "studies", "series", "instances"):
            todo.extend(_links(r.text, prefix))
    return pages


# --------------------------------------------------------------------------- the token
def test_every_request_needs_the_token(demo: DemoStore) -> None:
    client, console = _client(demo)
    try:
        for url in ("/patients", "/search", "/export", "/static/console.css", "/zones"):
            r = client.get(url)
            assert r.status_code == 401, url
            assert "token" in r.text
        assert client.get("/patients", headers={"Authorization": "Bearer wrong"}
                          ).status_code == 401
        client.cookies.set("gantry_web", "wrong")
        assert client.get("/patients").status_code == 401
        assert client.get("/patients?token=wrong", follow_redirects=False).status_code == 401
        assert client.get("/patients", headers={"Authorization": f"Bearer {TOKEN}"}
                          ).status_code == 200
    finally:
        console.session.close()


def test_the_token_in_the_address_becomes_a_strict_cookie_and_leaves_the_address(
        demo: DemoStore) -> None:
    client, console = _client(demo)
    try:
        r = client.get(f"/patients?page=2&token={TOKEN}", follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/patients?page=2"
        cookie = r.headers["set-cookie"]
        assert f"gantry_web={TOKEN}" in cookie and "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert client.get("/patients").status_code == 200  # the cookie now does
    finally:
        console.session.close()


def test_security_headers_on_every_answer(web: tuple[TestClient, Console]) -> None:
    client, _ = web
    for url in ("/patients", "/static/console.css"):
        headers = client.get(url).headers
        assert headers["cache-control"] == "no-store"
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"


def test_another_host_name_is_refused(demo: DemoStore) -> None:
    client, console = _client(demo, hosts={"127.0.0.1:8765"})
    try:
        client.cookies.set("gantry_web", TOKEN)
        assert client.get("/patients").status_code == 200
        assert client.get("/patients", headers={"Host": "evil.example:8765"}).status_code == 421
    finally:
        console.session.close()


# --------------------------------------------------------------------------- CSRF
def test_every_post_needs_the_csrf_field(web: tuple[TestClient, Console], demo: DemoStore
                                         ) -> None:
    client, console = web
    page = client.get("/search").text
    csrf = _csrf(page)
    assert TOKEN not in page  # the form carries a keyed hash of the token, not the token
    for url, data in (("/search", {"q": "Modality == 'CT'"}),
                      ("/decide", {"action": "withhold", "reason": "x", "instance": "abc"}),
                      ("/export", {"dest": "/tmp/nowhere"})):
        assert client.post(url, data=data).status_code == 403, url
        assert client.post(url, data={**data, "csrf": "0" * 32}).status_code == 403, url
    r = client.post("/search", data={"q": "Modality == 'CT'", "csrf": csrf},
                    headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert list(console.store.iter_decisions()) == []
    assert client.post("/search", data={"q": "Modality == 'CT'", "csrf": csrf},
                       follow_redirects=False).status_code == 303


# --------------------------------------------------------------------------- read-only
def test_a_read_only_console_refuses_every_change(demo: DemoStore, tmp_path: Path) -> None:
    client, console = _client(demo, read_only=True)
    try:
        client.cookies.set("gantry_web", TOKEN)
        pages = _crawl(client)
        assert all("read-only" in html for html in pages.values())
        instance = next(u for u in pages if u.startswith("/instances/"))
        handle = instance.rsplit("/", 1)[1]
        assert 'action="/decide"' not in pages[instance]
        csrf = _csrf(pages["/search"])
        dest = tmp_path / "out"
        for url, data in (("/decide", {"action": "withhold", "reason": "r", "instance": handle}),
                          (f"{instance}/zone", {"index": "0"}),
                          ("/export", {"dest": str(dest)})):
            r = client.post(url, data={**data, "csrf": csrf})
            assert r.status_code == 403, url
            assert "read-only" in r.text
        assert list(console.store.iter_decisions()) == []
        assert console.zone_rules() == []
        assert not dest.exists() and console.export_job is None
        # looking is still allowed: a search, and the originals of one instance (audited)
        assert client.post("/search", data={"q": "Modality == 'US'", "csrf": csrf},
                           follow_redirects=False).status_code == 303
        assert client.post(f"{instance}/reveal", data={"csrf": csrf},
                           follow_redirects=False).status_code == 303
    finally:
        console.session.close()


# --------------------------------------------------------------------------- browsing
def test_browse_shows_counts_and_values_as_written(web: tuple[TestClient, Console],
                                                   demo: DemoStore) -> None:
    client, _ = web
    pages = _crawl(client)
    home = pages["/patients"]
    assert f"{demo.instances} instances" in home
    assert len(_links(home, "patients")) == 3
    assert re.findall(r"GP-[A-Z0-9]+", home)  # pseudonymous patient IDs
    series_pages = [html for url, html in pages.items() if url.startswith("/studies/")]
    assert any(">CT<" in html for html in series_pages)
    instance_pages = [u for u in pages if u.startswith("/instances/")]
    assert len(instance_pages) == demo.instances
    # dates as the profile writes them: the basic profile empties StudyDate
    study_pages = [html for url, html in pages.items() if url.startswith("/patients/")]
    assert all("20240105" not in html for html in study_pages)


def test_no_identifying_value_in_addresses_titles_or_pages(demo: DemoStore) -> None:
    client, console = _client(demo, profile="ps3.15/basic")  # keeps none of the planted values
    try:
        client.cookies.set("gantry_web", TOKEN)
        pages = _crawl(client)
        uids = {inst.sop_instance_uid for inst in console.store.iter_instances()}
        uids |= {s.series_instance_uid for s in console.store.iter_series()}
        uids |= {s.study_instance_uid for s in console.store.iter_studies()}
    finally:
        console.session.close()
    secrets_ = {t for t in demo.tokens if len(t) >= 4} | uids
    for url, html in pages.items():
        title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
        hrefs = re.findall(r'(?:href|src|action)="([^"]+)"', html)
        for value in secrets_:
            assert value not in url and value not in title, (value, url)
            assert all(value not in h for h in hrefs), (value, url)
            assert value not in html, (value, url)  # hidden until asked for


def test_paging_reads_one_page(demo: DemoStore, tmp_path: Path) -> None:
    from gantry.api import Instance
    from gantry.testing.factory import make_instance
    from gantry.testing.store_contract import instance_from_header

    url = f"sqlite:///{tmp_path / 'big.db'}"
    total = PAGE_SIZE * 2 + 7
    with Session(url, workers=1) as session:
        for n in range(total):
            ds = make_instance(patient=0, series=0, instance=n)
            inst: Instance = instance_from_header(ds, str(tmp_path / f"i{n}"))
            session.store.add_instance(inst, ds)
    client, console = _client(DemoStore(url=url, profile="ps3.15/basic", inputs=tmp_path))
    try:
        client.cookies.set("gantry_web", TOKEN)
        patient = _links(client.get("/patients").text, "patients")[0]
        study = _links(client.get(patient).text, "studies")[0]
        series = _links(client.get(study).text, "series")[0]
        read: list[int] = []
        store = console.store
        original = store.iter_instances

        def counting(**kwargs: Any) -> Any:  # how many instances each request reads
            for inst in original(**kwargs):
                read[-1] += 1
                yield inst

        store.iter_instances = counting  # type: ignore[method-assign]

        def get(url: str) -> str:
            read.append(0)
            text = client.get(url).text
            assert read[-1] <= PAGE_SIZE + 1, (url, read[-1])  # a page, not the whole series
            return text

        def link(html: str, label: str) -> str:
            return html_lib.unescape(re.search(rf'href="([^"]+)"[^>]*>{label}<', html)[1])

        first = get(series)
        assert f"{total} in all · page 1 of 3" in first
        assert len(_links(first, "instances")) == PAGE_SIZE
        second = get(link(first, "next"))
        assert "page 2 of 3" in second and "after=" in link(first, "next")
        seen = set(_links(first, "instances")) | set(_links(second, "instances"))
        assert len(seen) == 2 * PAGE_SIZE
        last = get(link(second, "last"))
        assert len(_links(last, "instances")) == 7
        assert "page 3 of 3" in last and 'rel="next"' not in last
        assert not seen & set(_links(last, "instances"))
        back = get(link(last, "previous"))
        assert "page 2 of 3" in back and _links(back, "instances") == _links(second, "instances")
        again = get(link(back, "previous"))
        assert "page 1 of 3" in again and _links(again, "instances") == _links(first, "instances")
    finally:
        console.session.close()


# --------------------------------------------------------------------------- search
def test_a_query_error_shows_the_caret(web: tuple[TestClient, Console]) -> None:
    client, _ = web
    csrf = _csrf(client.get("/search").text)
    r = client.post("/search", data={"q": "Modality == 'CT' and and", "csrf": csrf})
    assert r.status_code == 400
    shown = re.search(r'<div class="error" id="query-error"><p>(.*?)</p><pre>(.*?)</pre>',
                      r.text, re.S)
    assert shown is not None and "query error (column" in shown.group(1)
    from gantry.api import QueryError, parse_query

    with pytest.raises(QueryError) as caught:
        parse_query("Modality == 'CT' and and")
    import html as html_lib

    assert html_lib.unescape(shown.group(2)) == caught.value.pointer()


def test_search_results_page_and_the_query_stays_out_of_the_address(
        web: tuple[TestClient, Console]) -> None:
    client, _ = web
    csrf = _csrf(client.get("/search").text)
    r = client.post("/search", data={"q": "Modality == 'US'", "csrf": csrf},
                    follow_redirects=False)
    location = r.headers["location"]
    assert "Modality" not in location and "US" not in location
    page = client.get(location).text
    assert len(_links(page, "instances")) == 1
    assert "1 instance(s)" in page


# --------------------------------------------------------------------------- the viewer
def test_viewer_renders_frames_and_hides_originals_until_asked(
        web: tuple[TestClient, Console], demo: DemoStore) -> None:
    client, console = web
    handle = console.handles.of("instance", demo.us_uid)
    page = client.get(f"/instances/{handle}").text
    assert 'id="before"' not in page and 'id="reveal"' in page
    assert "TEST^ADL" not in page and "MRN4471" not in page
    assert "of 3" in page and 'value="1"> of 3' in page  # three frames, counted from 1
    third = client.get(f"/instances/{handle}?frame=3&wc=100&ww=50").text
    assert 'value="3"> of 3' in third and "frame.png?side=after&frame=2&amp;wc=100" in third
    assert f'href="/instances/{handle}?frame=2&amp;wc=100.0&amp;ww=50.0"' in third  # kept
    assert 'class="blanked"' in page and 'class="found"' in page
    after = client.get(f"/instances/{handle}/frame.png?side=after&frame=2&wc=2048&ww=4096")
    assert after.status_code == 200 and after.content.startswith(b"\x89PNG")
    refused = client.get(f"/instances/{handle}/frame.png?side=before&frame=0")
    assert refused.status_code == 403
    before_events = [e for e in console.store.iter_events() if e.kind == "originals-viewed"]
    r = client.post(f"/instances/{handle}/reveal", data={"csrf": _csrf(page)},
                    follow_redirects=False)
    location = r.headers["location"]
    shown = client.get(location).text
    assert "TEST^ADL" in shown and 'id="before"' in shown
    grant = location.split("grant=")[1]
    before = client.get(f"/instances/{handle}/frame.png?side=before&frame=0&grant={grant}")
    assert before.status_code == 200 and before.content != after.content
    events = [e for e in console.store.iter_events() if e.kind == "originals-viewed"]
    assert len(events) == len(before_events) + 1
    assert events[-1].subject.startswith("2.25.") and events[-1].detail["who"] == "tester"
    other = console.handles.of("instance", next(
        i.sop_instance_uid for i in console.store.iter_instances() if i.modality == "CT"))
    assert client.get(f"/instances/{other}/frame.png?side=before&grant={grant}"
                      ).status_code == 403  # a grant is for one instance


def test_window_level_changes_the_rendering(web: tuple[TestClient, Console],
                                            demo: DemoStore) -> None:
    client, console = web
    handle = console.handles.of("instance", demo.us_uid)
    base = f"/instances/{handle}/frame.png?side=after&frame=0"
    wide = client.get(f"{base}&wc=2048&ww=4096").content
    narrow = client.get(f"{base}&wc=600&ww=200").content
    assert wide != narrow
    frames = {client.get(f"{base.replace('frame=0', f'frame={f}')}&wc=2048&ww=4096").content
              for f in range(3)}
    assert len(frames) == 3  # each frame is its own picture


def test_header_diff_says_what_and_why(web: tuple[TestClient, Console], demo: DemoStore
                                       ) -> None:
    client, console = web
    page = client.get(f"/instances/{console.handles.of('instance', demo.us_uid)}").text
    row = re.search(r"<td>\(0010,0030\)</td><td>PatientBirthDate</td>.*?</tr>", page, re.S)
    assert row is not None
    assert "Table E.1-1 (0010,0030): Z (Basic Profile" in row.group(0)
    assert "pixel-zones" in page and "zone rules acme-header" in page


# --------------------------------------------------------------------------- decisions
def test_withhold_a_series_then_export_leaves_it_out(demo: DemoStore, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(Path(demo.url.removeprefix("sqlite:///")).parent, root)
    copy = DemoStore(url=f"sqlite:///{root / 'cohort.db'}", profile=str(root / "review.yaml"),
                     inputs=root / "in", us_uid=demo.us_uid)
    client, console = _client(copy)
    try:
        client.cookies.set("gantry_web", TOKEN)
        pages = _crawl(client)
        series_url = next(u for u, h in pages.items() if u.startswith("/series/")
                          and ">CT " in h)
        csrf = _csrf(pages[series_url])
        empty = client.post("/decide", data={"csrf": csrf, "action": "withhold", "reason": " ",
                                             "series": series_url.rsplit("/", 1)[1]})
        assert empty.status_code == 400 and "needs a reason" in empty.text
        r = client.post("/decide", data={"csrf": csrf, "action": "withhold",
                                         "reason": "wrong body part",
                                         "series": series_url.rsplit("/", 1)[1],
                                         "next": series_url})
        assert "withhold: 3 instance(s) recorded as tester" in r.text
        withheld = {d.sop_instance_uid for d in console.store.iter_decisions()}
        assert len(withheld) == 3
        assert {d.who for d in console.store.iter_decisions()} == {"tester"}
        assert {d.scope for d in console.store.iter_decisions()} == {"series"}
        listing = client.get(series_url).text
        assert listing.count('data-decision="withhold"') == 3
        out = tmp_path / "out"
        assert client.post("/export", data={"csrf": csrf, "dest": str(out)},
                           follow_redirects=False).status_code == 303
        deadline = time.monotonic() + 120
        while console.export_job.running and time.monotonic() < deadline:
            time.sleep(0.2)
        job = console.export_job
        assert job.state == "done", job.error
        assert job.summary["withheld"] == 3
        assert job.summary["done"] == copy_instances(console) - 3
        written = list(out.rglob("*.dcm"))
        assert len(written) == job.summary["done"]
        new_uids = {console.session.run.map_uid(uid) for uid in withheld}
        assert not any(uid in p.name for p in written for uid in new_uids)
        assert {console.store.get_status(uid) for uid in withheld} == {"withheld"}
        page = client.get("/export").text
        assert 'id="summary-withheld">3<' in page
        assert job.compliance.get("verdict") in ("pass", "unverified"), (job.compliance or
                                                                         job.compliance_note)
        assert job.compliance["fail"] == 0
        assert 'id="compliance-link"' in page
        assert client.get("/export/compliance.html").status_code == 200
    finally:
        console.session.close()


def copy_instances(console: Console) -> int:
    """How many instances the console's store holds."""
    return console.store.counts().instances


def test_accepting_an_ocr_finding_makes_a_zone_rule_the_preview_uses(
        demo: DemoStore, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(Path(demo.url.removeprefix("sqlite:///")).parent, root)
    copy = DemoStore(url=f"sqlite:///{root / 'cohort.db'}", profile=str(root / "review.yaml"),
                     inputs=root / "in", us_uid=demo.us_uid)
    client, console = _client(copy)
    try:
        client.cookies.set("gantry_web", TOKEN)
        handle = console.handles.of("instance", copy.us_uid)
        page = client.get(f"/instances/{handle}").text
        assert page.count('class="blanked"') == 1
        assert 'id="ocr-uncovered"' in page  # the record number would be written
        r = client.post(f"/instances/{handle}/zone", data={"csrf": _csrf(page), "index": "0"},
                        follow_redirects=False)
        assert r.headers["location"] == "/zones"
        zones = client.get("/zones").text
        assert "ManufacturerModelName: SONO 9" in zones and "[4, 84, 92, 26]" in zones
        assert re.search(r"<td>tester</td><td>20\d\d-\d\d-\d\d \d\d:\d\d:\d\d UTC</td>", zones)
        (rule,) = console.zone_rules()
        assert rule["who"] == "tester"
        page = client.get(f"/instances/{handle}").text
        assert page.count('class="blanked"') == 2  # the preview blanks the new box too
        assert 'id="ocr-uncovered"' not in page
        assert "console-1" in page
    finally:
        console.session.close()


def _export_cli(db: str, dest: Path, profile: str) -> Any:
    """``gantry export DEST --db URL -p PROFILE`` in its own process (no console around); the
    written ultrasound, or ``None`` when the gate kept it back."""
    import subprocess
    import sys

    import pydicom

    done = subprocess.run([sys.executable, "-m", "gantry", "export", str(dest), "--db", db,
                           "-p", profile, "-w", "1"], capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode in (0, 3), done.stderr
    for path in sorted(dest.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        if ds.Modality == "US":
            return ds
    return None


def test_a_zone_rule_accepted_in_the_console_is_blanked_by_a_plain_cli_export(
        demo: DemoStore, tmp_path: Path) -> None:
    """Accept the OCR finding in the console, close it, then ``gantry export`` on the command
    line: the store's zone rule is in the profile of that run (``gantry_store_profile``), the
    box is blank in the written pixels, and the gate releases what it kept back before."""
    import shutil

    from gantry_web_kit import ID_BOX

    root = tmp_path / "copy"
    shutil.copytree(Path(demo.url.removeprefix("sqlite:///")).parent, root)
    copy = DemoStore(url=f"sqlite:///{root / 'cohort.db'}", profile=str(root / "review.yaml"),
                     inputs=root / "in", us_uid=demo.us_uid)
    x, y, w, h = ID_BOX

    def id_box(ds: Any) -> Any:
        return ds.pixel_array[:, y:y + h, x:x + w]

    before = _export_cli(copy.url, tmp_path / "before", copy.profile)
    assert before is not None and id_box(before).any()  # the record number is still there
    assert _export_cli(copy.url, tmp_path / "basic-before", "ps3.15/basic") is None  # the gate
    client, console = _client(copy, profile="ps3.15/basic")
    try:
        client.cookies.set("gantry_web", TOKEN)
        handle = console.handles.of("instance", copy.us_uid)
        page = client.get(f"/instances/{handle}").text
        assert 'id="gate-error"' in page and "burned-in text" in page  # as the export says
        r = client.post(f"/instances/{handle}/zone", data={"csrf": _csrf(page), "index": "0"},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
        page = client.get(f"/instances/{handle}").text
        assert 'id="gate-ok"' in page and 'id="gate-error"' not in page
    finally:
        console.session.close()
    after = _export_cli(copy.url, tmp_path / "after", copy.profile)
    assert after is not None and not id_box(after).any()  # blank on every frame
    assert not after.pixel_array[:, :30, :].any()  # the profile's own rule still applies
    basic = _export_cli(copy.url, tmp_path / "basic-after", "ps3.15/basic")
    assert basic is not None and not id_box(basic).any()  # pixel-zones joined the stack


def test_a_missing_source_shows_the_store_header_and_its_pixels(tmp_path: Path) -> None:
    own = demo_store(tmp_path / "own")
    (own.inputs / "us.dcm").unlink()
    client, console = _client(own)
    try:
        client.cookies.set("gantry_web", TOKEN)
        handle = console.handles.of("instance", own.us_uid)
        page = client.get(f"/instances/{handle}").text
        assert 'id="source-error"' in page and 'id="gate-ok"' not in page
        assert "the store&#39;s redacted pixels (gantry redact)" in page
        png = client.get(f"/instances/{handle}/frame.png?side=after&frame=1")
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    finally:
        console.session.close()
