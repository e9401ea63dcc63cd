"""Broker adapters: built-in QMT, miniQMT (xtquant) and the paper exchange (see base.py)."""
