"""Import of RSNA CTP DicomPixelAnonymizer scripts into zone rules."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner
from gantry_pixels.cli import pixels
from gantry_pixels.ctp import convert, convert_file
from gantry_pixels.settings import load_settings
from gantry_pixels.testing import make_text_image
from gantry_pixels.zones import matching_rules, rule_matches

DATA = Path(__file__).parent / "data"


def _settings(text: str):
    return load_settings(yaml.safe_load(text)["plugins"]["gantry-pixels"])


def test_device_script_converts_every_signature() -> None:
    result = convert_file(str(DATA / "us_devices.script"))
    assert result.untranslated == []
    assert result.signatures == 4
    names = [r["name"] for r in result.rules]
    # the OR of two manufacturers becomes two rules sharing the regions
    assert len(result.rules) == 5 and sum("-acuson-sequoia-or-siemens" in n for n in names) == 2
    logiq = result.rules[0]
    assert logiq["match"] == {"Modality": "US", "Manufacturer": "*GE Healthcare*",
                              "ManufacturerModelName": "*LOGIQE9*", "size": "480x640"}
    assert logiq["boxes"] == [[0, 0, 640, 40], [520, 440, 120, 40]]
    acuson = result.rules[2]
    assert acuson["exclude"] == {"SeriesDescription": "*PHANTOM*"}
    assert acuson["match"]["Rows"] == "600"
    # the YAML loads as valid settings
    settings = _settings(result.to_yaml("us_devices.script"))
    assert len(settings.zones) == 5


def test_converted_rules_select_the_right_images() -> None:
    settings = _settings(convert_file(str(DATA / "us_devices.script")).to_yaml())
    logiq = make_text_image(rows=480, cols=640, manufacturer="GE Healthcare",
                            model="LOGIQE9", modality="US")
    other_size = make_text_image(rows=600, cols=800, manufacturer="GE Healthcare",
                                 model="LOGIQE9")
    siemens = make_text_image(rows=600, cols=800, manufacturer="Siemens Healthineers",
                              model="S2000")
    phantom = make_text_image(rows=600, cols=800, manufacturer="ACUSON", model="Sequoia",
                              SeriesDescription="QA Phantom weekly")
    aplio = make_text_image(manufacturer="TOSHIBA", model="A500G")
    assert [r.name for r in matching_rules(settings, logiq)] == [
        "ctp-10-ge-logiq-e9-640-x-480"]
    assert matching_rules(settings, other_size) == []
    assert [r.name for r in matching_rules(settings, siemens)] == [
        "ctp-22-acuson-sequoia-or-siemens-s2000-not-the-2"]
    assert matching_rules(settings, phantom) == []
    assert len(matching_rules(settings, aplio)) == 1


def test_untranslatable_constructs_are_reported_with_their_line() -> None:
    result = convert_file(str(DATA / "mixed_with_problems.script"))
    reasons = {item.line: item.reason for item in result.untranslated}
    assert any("private" in r for r in reasons.values())
    assert any("isGreaterThan" in r for r in reasons.values())
    assert any("sequence" in r for r in reasons.values())
    assert any("needs 4 numbers" in r for r in reasons.values())
    assert any("no usable region" in r for r in reasons.values())
    assert any(r.startswith("syntax") for r in reasons.values())
    assert any("PatientsShoeSize" in r for r in reasons.values())
    text = (DATA / "mixed_with_problems.script").read_text()
    numeric_line = text.splitlines().index("Numeric comparison") + 2
    assert "isGreaterThan" in reasons[numeric_line]
    # the good parts still convert: the dose screen and the mammography region
    assert [r["boxes"] for r in result.rules] == [[[0, 0, 1132, 60]], [[0, 0, 300, 120]]]
    dose = result.rules[0]["match"]
    assert dose == {"ImageType": "*SECONDARY*", "Manufacturer": "*SIEMENS*", "Rows": "*860*"}


def test_negated_group_uses_de_morgan() -> None:
    result = convert('{ !( Modality.equals("US") + Modality.equals("CT") ) } (0,0,5,5)')
    assert result.rules == [{"name": "ctp-1", "match": {},
                             "exclude": {"Modality": ["US", "CT"]}, "boxes": [[0, 0, 5, 5]]}]
    settings = load_settings({"zones": result.rules})
    assert not rule_matches(settings.zones[0], make_text_image(modality="US"))
    assert rule_matches(settings.zones[0], make_text_image(modality="MR"))


def test_two_conditions_on_one_attribute_must_both_hold() -> None:
    result = convert('{ Manufacturer.startsWith("GE") * Manufacturer.endsWith("CARE") }'
                     ' (0,0,5,5)')
    zone = load_settings({"zones": result.rules}).zones[0]
    assert rule_matches(zone, make_text_image(manufacturer="GE HEALTHCARE"))
    assert not rule_matches(zone, make_text_image(manufacturer="GE MEDICAL"))
    assert not rule_matches(zone, make_text_image(manufacturer="PHILIPS HEALTHCARE"))


def test_glob_characters_in_values_are_literal() -> None:
    result = convert('{ SeriesDescription.equals("AX*[1]?") } (0,0,5,5)')
    zone = load_settings({"zones": result.rules}).zones[0]
    assert rule_matches(zone, make_text_image(SeriesDescription="AX*[1]?"))
    assert not rule_matches(zone, make_text_image(SeriesDescription="AXIAL[1]2"))


def test_cli_import_ctp_writes_yaml_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "zones.yaml"
    runner = CliRunner()
    result = runner.invoke(pixels, ["import-ctp", str(DATA / "mixed_with_problems.script"),
                                    "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "not translated: private element" in result.output
    written = out.read_text()
    assert "# NOT TRANSLATED (line" in written
    assert len(_settings(written).zones) == 2
    strict = runner.invoke(pixels, ["import-ctp", "--strict",
                                    str(DATA / "mixed_with_problems.script")])
    assert strict.exit_code == 1


def test_cli_match_lists_rules_per_file(tmp_path: Path) -> None:
    rules = tmp_path / "zones.yaml"
    rules.write_text(convert_file(str(DATA / "us_devices.script")).to_yaml())
    image = tmp_path / "logiq.dcm"
    make_text_image(rows=480, cols=640, manufacturer="GE Healthcare", model="LOGIQE9"
                    ).save_as(image, enforce_file_format=True)
    result = CliRunner().invoke(pixels, ["match", str(rules), str(image)])
    assert result.exit_code == 0, result.output
    assert "ctp-10-ge-logiq-e9" in result.output
