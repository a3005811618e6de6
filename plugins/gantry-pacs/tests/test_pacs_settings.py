"""Settings and URLs of gantry-pacs (no network)."""

from __future__ import annotations

import pytest
from gantry_pacs.settings import PacsSettings, load_settings
from gantry_pacs.url import UrlError, parse_url

from gantry.api import ProfileError


class _Run:
    def __init__(self, section: dict) -> None:
        self.section = section

    def settings(self, name: str) -> dict:
        return dict(self.section) if name == "pacs" else {}


def test_environment_overrides_the_profile() -> None:
    run = _Run({"calling_aet": "PROFILEAE", "retries": 5, "tls": {"check_hostname": True}})
    settings = load_settings(run, {"GANTRY_PACS_CALLING_AET": "ENVAE",
                                   "GANTRY_PACS_ALLOWED_AETS": "CT1, MR2",
                                   "GANTRY_PACS_TLS_CA_CERTIFICATES": "/etc/ca.pem"})
    assert settings.calling_aet == "ENVAE" and settings.retries == 5
    assert settings.allowed_aets == ["CT1", "MR2"]
    assert settings.tls.ca_certificates == "/etc/ca.pem" and settings.tls.check_hostname
    assert load_settings(None, {}) == PacsSettings()


def test_invalid_values_name_the_field_and_the_variable() -> None:
    with pytest.raises(ProfileError, match=r"plugins\.pacs\.retries.*GANTRY_PACS_RETRIES"):
        load_settings(None, {"GANTRY_PACS_RETRIES": "many"})
    with pytest.raises(ProfileError, match=r"plugins\.pacs\.calling_aet.*not a valid AE"):
        load_settings(_Run({"calling_aet": "A" * 17}), {})
    with pytest.raises(ProfileError, match=r"plugins\.pacs\.tls\.nonsense"):
        load_settings(_Run({"tls": {"nonsense": 1}}), {})
    with pytest.raises(ProfileError, match=r"plugins\.pacs\.commitment\b.*'required', "
                       r"'if-supported' or 'off'"):
        load_settings(_Run({"commitment": "always"}), {})
    with pytest.raises(ProfileError, match=r"plugins\.pacs\.commitment_timeout"):
        load_settings(None, {"GANTRY_PACS_COMMITMENT_TIMEOUT": "0"})
    with pytest.raises(ProfileError, match=r"plugins\.pacs\.commitment_port"):
        load_settings(_Run({"commitment_port": 70000}), {})
    assert load_settings(None, {}).commitment == "if-supported"
    assert load_settings(None, {"GANTRY_PACS_COMMITMENT": "off",
                                "GANTRY_PACS_COMMITMENT_PORT": "11114"}).commitment_port == 11114


def test_urls() -> None:
    url = parse_url("dimse://ORTHANC@127.0.0.1:4242?PatientID=X*&StudyDate=20240101-20241231"
                    "&Modality=CT&SOPClassUID=1.2.840.10008.5.1.4.1.1.2&retrieve=move")
    assert (url.peer.aet, url.peer.host, url.peer.port, url.peer.tls) == \
        ("ORTHANC", "127.0.0.1", 4242, False)
    assert url.study_keys == {"PatientID": "X*", "StudyDate": "20240101-20241231"}
    assert url.series_keys == {"Modality": "CT"} and url.retrieve == "move"
    assert url.instance_keys == {"SOPClassUID": "1.2.840.10008.5.1.4.1.1.2"}
    assert parse_url("dimses://A@h:1").peer.tls
    assert str(parse_url("dimses://A@h:1").peer) == "A@h:1 (TLS)"
    for bad, why in [("dimse://127.0.0.1:4242", "AE title is missing"),
                     ("dimse://A@127.0.0.1", "port is missing"),
                     ("dimse://A@h:1/path", "no path"),
                     ("dimse://A@h:1?Bogus=1", "not a matching key"),
                     ("dimse://A@h:1?retrieve=fetch", "retrieve=get or retrieve=move"),
                     ("dimse://A@h:1?StudyInstanceUID=../../etc", "not a UID"),
                     ("dimse://A@h:1?Modality=CT&level=study", "level=series"),
                     ("dimse://%s@h:1" % ("X" * 17), "not a valid AE title")]:
        with pytest.raises(UrlError, match=why):
            parse_url(bad)
    with pytest.raises(UrlError, match="takes no query"):
        parse_url("dimse://A@h:1?PatientID=1", with_query=False)
