"""zenmail: proven daemons carry the mail; this package owns the truth and the guarantees."""

__version__ = "0.1.0"
