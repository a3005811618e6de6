"""gantry-pacs: DIMSE networking (query/retrieve, a storage listener, C-STORE export)."""

__version__ = "0.1.0"
