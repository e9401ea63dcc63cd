"""A-share market rules (pure, Python 3.6 compatible, bundled into client files).

Import the modules directly (``from jq2qmt.rules import codes``); this package
``__init__`` stays empty because bundled packages are empty.
"""
