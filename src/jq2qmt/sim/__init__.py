"""Simulators of the real platforms for tests and the demo (paper exchange, QMT
built-in globals, xtquant trader, JoinQuant context). Import the modules directly.
"""
