"""Small scripts run with a peer's own interpreter: ``python DRIVER SRC DST``."""
