"""Rows and queries with the rows each selects: the cases every compiler of the query language
must agree on (the kernel's predicate, and a plugin's compiler for another engine).

``ROWS`` are typed header rows (as :func:`gantry.query.header_row` makes them), told apart by
``PatientID``; ``CASES`` maps a query to the ``PatientID`` values of the rows it selects, with
SQL's three-valued logic (a comparison with a missing value is unknown, and stays unknown under
``not``)::

    from gantry.testing.query_cases import CASES, ROWS

    @pytest.mark.parametrize("query", list(CASES))
    def test_my_engine_agrees(query):
        assert my_engine_select(ROWS, parse_query(query)) == CASES[query]

Queries on ``ImageType`` and ``PixelSpacing`` read multi-valued attributes (lists).
"""

from __future__ import annotations

import datetime as dt

#: Multi-valued columns of :data:`ROWS`.
MULTI_VALUED = frozenset({"ImageType", "PixelSpacing"})

#: Typed header rows, told apart by ``PatientID``.
ROWS = [
    {"Modality": "CT", "SliceThickness": 0.625, "Manufacturer": "GE MEDICAL SYSTEMS",
     "StudyDate": dt.date(2020, 5, 1), "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"],
     "SeriesNumber": 2, "PatientID": "P1", "PixelSpacing": [0.5, 0.5]},
    {"Modality": "CT", "SliceThickness": 5.0, "Manufacturer": "SIEMENS",
     "StudyDate": dt.date(2019, 1, 2), "ImageType": ["DERIVED", "SECONDARY"],
     "SeriesNumber": 3, "PatientID": "P2", "PixelSpacing": [0.9, 0.9]},
    {"Modality": "MR", "SliceThickness": None, "Manufacturer": "Philips",
     "StudyDate": dt.date(2021, 12, 31), "ImageType": None, "SeriesNumber": 1,
     "PatientID": "P3", "PixelSpacing": None},
    {"Modality": "MR", "SliceThickness": 0.9, "Manufacturer": None,
     "StudyDate": None, "ImageType": ["ORIGINAL"], "SeriesNumber": None,
     "PatientID": "P'4", "PixelSpacing": [1.2, 1.2]},
]

#: Query -> the ``PatientID`` values of the rows of :data:`ROWS` it selects.
CASES = {
    "Modality == 'CT' and SliceThickness < 1.0 and Manufacturer contains 'GE'": {"P1"},
    "Modality == 'CT' or SliceThickness < 1": {"P1", "P2", "P'4"},
    "not Modality == 'CT'": {"P3", "P'4"},
    "not SliceThickness < 1": {"P2"},  # unknown stays unknown under not (SQL semantics)
    "SliceThickness is null": {"P3"},
    "SliceThickness is not null and SeriesNumber is null": {"P'4"},
    "Manufacturer startswith 'si' or Manufacturer contains 'PHIL'": {"P2", "P3"},
    "StudyDate between 2019-06-01 and '20211231'": {"P1", "P3"},
    "StudyDate >= 2020-01-01": {"P1", "P3"},
    "SeriesNumber in [1, 3]": {"P2", "P3"},
    "SeriesNumber not in [1, 3]": {"P1"},
    "PatientID == 'P''4' or PatientID == \"P1\"": {"P1", "P'4"},
    "ImageType contains 'axial'": {"P1"},
    "ImageType == 'ORIGINAL'": {"P1", "P'4"},
    "ImageType is null": {"P3"},
    "PixelSpacing > 1": {"P'4"},
    "(0008,0060) == 'MR' and not (SeriesNumber > 0 and SeriesNumber < 2)": set(),
    "(0008,0060) != 'MR' AND NOT (SeriesNumber > 2)": {"P1"},
    "SliceThickness > -1 and SliceThickness <= 0.9": {"P1", "P'4"},
}
