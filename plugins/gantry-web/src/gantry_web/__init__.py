"""gantry-web: a local review console for a Gantry store, in the browser."""

__version__ = "0.1.0"
