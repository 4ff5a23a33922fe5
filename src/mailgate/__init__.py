"""mailgate: a self-hosted email gateway for business software."""

__version__ = "0.1.0"
