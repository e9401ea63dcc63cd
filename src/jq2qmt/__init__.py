"""jq2qmt: mirror JoinQuant strategies onto QMT brokerage accounts."""

__version__ = "0.1.0"
