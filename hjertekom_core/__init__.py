"""HjerteKom core: data contract, validation, scoring, store, service."""

__version__ = "0.1.0"
