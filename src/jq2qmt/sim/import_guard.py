"""A module whitelist like the one some broker builds of QMT run (国泰君安 君弘君智):
importing a top-level module that is not on the list fails with
``ImportError: Forbidden: Module<name> not in whitelist!``.

Two variants, because how the real build hooks imports is not known:
- ``"meta_path"``: a finder at ``sys.meta_path[0]``. It refuses a module whose top-level
  name is neither whitelisted nor already in ``sys.modules``; like any meta-path
  finder it is asked only for modules that are not loaded yet, and a finder the
  script inserts in front of it is asked first.
- ``"import_hook"``: a ``builtins.__import__`` wrapper refusing absolute imports
  (level 0) whose top-level name is neither whitelisted nor in ``sys.modules``.
  Relative imports pass; ``importlib.import_module`` does not go through it.
  With ``registered="own"`` a module in ``sys.modules`` passes only if the strategy's
  own code put it there (while the guard was installed): in a test process
  ``sys.modules`` also holds what the tests imported (``requests``, ``jq2qmt``...),
  which a real QMT process would not have.

The default whitelist (`default_whitelist`) is the standard library's top-level
names plus the third-party packages QMT ships (NumPy, Pandas, Patsy, SciPy,
Statsmodels, TA-Lib), as listed in QMT's built-in Python FAQ. The standard library
is ``sys.stdlib_module_names`` where the interpreter has it (3.10+); older ones
(3.6) use the built-in module names plus the modules found in the interpreter's
stdlib directory and its ``lib-dynload``, never ``site-packages``.

The guard is a context manager and re-entrant; it always restores what it replaced.
Python 3.6 syntax.
"""

import builtins
import os
import sys
import sysconfig

MODES = ("meta_path", "import_hook")
QMT_BUNDLED = ("numpy", "pandas", "patsy", "scipy", "statsmodels", "talib")
_MESSAGE = "Forbidden: Module<%s> not in whitelist!"
_STDLIB = []


def _scan(folder):
    names = set()
    try:
        entries = os.listdir(folder)
    except OSError:
        return names
    for entry in entries:
        if entry in ("site-packages", "dist-packages") or entry.startswith("."):
            continue
        path = os.path.join(folder, entry)
        if entry.endswith(".py"):
            names.add(entry[:-3])
        elif entry.endswith((".so", ".pyd")):
            names.add(entry.split(".")[0])
        elif os.path.isfile(os.path.join(path, "__init__.py")):
            names.add(entry)
    return names


def stdlib_names():
    """The standard library's top-level module names (see the module docstring)."""
    if not _STDLIB:
        names = set(sys.builtin_module_names)
        listed = getattr(sys, "stdlib_module_names", None)
        if listed:
            names.update(listed)
        else:
            paths = sysconfig.get_paths()
            for key in ("stdlib", "platstdlib"):
                folder = paths.get(key)
                if folder:
                    names.update(_scan(folder))
                    names.update(_scan(os.path.join(folder, "lib-dynload")))
        _STDLIB.append(frozenset(n for n in names if n.isidentifier()))
    return _STDLIB[0]


def default_whitelist(extra=()):
    return frozenset(stdlib_names()) | frozenset(QMT_BUNDLED) | frozenset(extra or ())


def forbidden(name):
    return ImportError(_MESSAGE % (name,), name=name)


class _WhitelistFinder:
    """The meta-path variant (see the module docstring)."""

    def __init__(self, allowed):
        self.allowed = allowed
        self.refused = []

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in self.allowed or top in sys.modules:
            return None
        self.refused.append(fullname)
        raise forbidden(top)


class ImportGuard:
    """Install the whitelist for the duration of a ``with`` block (re-entrant)."""

    def __init__(self, mode, allowed=None, registered="any"):
        if mode not in MODES:
            raise ValueError("whitelist must be None, 'meta_path' or 'import_hook': %r" % (mode,))
        if registered not in ("any", "own"):
            raise ValueError("whitelist_registered must be 'any' or 'own': %r" % (registered,))
        self.mode = mode
        self.registered = registered
        self.own = set()  # top-level names the strategy's code put in sys.modules
        self._before = {}
        self.allowed = frozenset(allowed) if allowed is not None else default_whitelist()
        self.refused = []
        self._depth = 0
        self._finder = None
        self._original_import = None

    @property
    def installed(self):
        return self._depth > 0

    def _loaded(self, top):
        module = sys.modules.get(top)
        if module is None:
            return False
        if self.registered == "any" or top in self.own:
            return True
        return self._before.get(top) is not module  # registered during this window

    def _guarded_import(self, name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name:
            top = name.partition(".")[0]
            if top not in self.allowed and not self._loaded(top):
                self.refused.append(name)
                raise forbidden(top)
        return self._original_import(name, globals, locals, fromlist, level)

    def __enter__(self):
        if self._depth == 0:
            self._before = dict(sys.modules)
            if self.mode == "meta_path":
                self._finder = _WhitelistFinder(self.allowed)
                self._finder.refused = self.refused
                sys.meta_path.insert(0, self._finder)
            else:
                self._original_import = builtins.__import__
                builtins.__import__ = self._guarded_import
        self._depth += 1
        return self

    def __exit__(self, *exc):
        self._depth -= 1
        if self._depth == 0:
            self.own.update(
                n.partition(".")[0]
                for n, m in list(sys.modules.items())
                if self._before.get(n) is not m
            )
            self._before = {}
            if self.mode == "meta_path":
                sys.meta_path[:] = [f for f in sys.meta_path if f is not self._finder]
                self._finder = None
            else:
                builtins.__import__ = self._original_import
                self._original_import = None
        return False


class NoGuard:
    """The default: QMT builds without a whitelist."""

    mode = None
    refused = ()
    installed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
