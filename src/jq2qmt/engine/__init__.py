"""The pure rebalance engine (no I/O, no clock, Python 3.6 compatible, bundled).

Import the modules directly (``from jq2qmt.engine.plan import compute_plan``); this
package ``__init__`` stays empty because bundled packages are empty.
"""
