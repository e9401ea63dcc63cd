"""Bundle package modules into one standalone Python 3.6 file.

The QMT strategy editor and the JoinQuant research root each take plain files, not a
package. So that no logic is written twice, the exported files carry the package's own
modules (rules, engine, signing, follower...) verbatim and load them at import time
under a private top-level package, ``_jq2qmt``, through a small meta-path finder.

Rules for a module that is bundled (tests check them):
- Python 3.6 syntax (checked with vermin).
- It imports other bundled modules only relatively (``from ..rules import codes``),
  so the same source works as ``jq2qmt.x`` when installed and ``_jq2qmt.x`` when
  bundled, and a bundled copy never clashes with an installed jq2qmt.
- It does not rely on its package ``__init__``: bundled packages are empty.
"""

import importlib.util
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
BUNDLE_PACKAGE = "_jq2qmt"

_LOADER = '''\
import importlib.abc as _jq2qmt_abc
import importlib.util as _jq2qmt_util
import linecache as _jq2qmt_linecache
import sys as _jq2qmt_sys


class _Jq2qmtBundleFinder(_jq2qmt_abc.MetaPathFinder, _jq2qmt_abc.Loader):
    """Serves the modules bundled below from memory (see jq2qmt.clients.bundle)."""

    def __init__(self, sources, packages):
        self.sources = sources
        self.packages = packages

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.sources or fullname in self.packages:
            return _jq2qmt_util.spec_from_loader(
                fullname, self, is_package=fullname in self.packages)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        source = self.sources.get(module.__name__, "")
        filename = "<%s>" % module.__name__
        _jq2qmt_linecache.cache[filename] = (
            len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), module.__dict__)


def _jq2qmt_install_bundle(sources, packages):
    for finder in _jq2qmt_sys.meta_path:
        if isinstance(getattr(finder, "sources", None), dict) and \\
                type(finder).__name__ == "_Jq2qmtBundleFinder":
            finder.sources.update(sources)
            finder.packages.update(packages)
            return
    _jq2qmt_sys.meta_path.insert(0, _Jq2qmtBundleFinder(dict(sources), set(packages)))
'''


def module_path(name):
    """Path of the source file of a ``jq2qmt.*`` module (without importing it)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ValueError("no such module: %s" % name)
    return Path(spec.origin)


def bundled_name(name):
    """``jq2qmt.engine.plan`` -> ``_jq2qmt.engine.plan``."""
    if name != "jq2qmt" and not name.startswith("jq2qmt."):
        raise ValueError("only jq2qmt modules can be bundled: %s" % name)
    return BUNDLE_PACKAGE + name[len("jq2qmt"):]


def _literal(source, encoding):
    """A string literal for `source` that survives the file's encoding."""
    safe_raw = "'''" not in source and not source.endswith(("\\", "'"))
    if safe_raw:
        try:
            source.encode(encoding)
        except UnicodeEncodeError:
            safe_raw = False
    if safe_raw:
        return "r'''" + source + "'''"
    return ascii(source)


def bundle(modules, encoding="utf-8"):
    """Python source that makes `modules` importable as ``_jq2qmt.*``.

    `modules` lists dotted ``jq2qmt.*`` module names; every parent package becomes
    an empty package. The result is meant to sit in an exported file below its
    header and above the code that uses ``_jq2qmt``.
    """
    sources = {}
    packages = set()
    for name in modules:
        text = module_path(name).read_text(encoding="utf-8")
        sources[bundled_name(name)] = text
        parts = bundled_name(name).split(".")
        for i in range(1, len(parts)):
            packages.add(".".join(parts[:i]))
    lines = ["# ---- bundled jq2qmt modules (generated; edit the package, not this file) ----",
             _LOADER, "_jq2qmt_install_bundle({"]
    for name in sorted(sources):
        lines.append("    %r: %s," % (name, _literal(sources[name], encoding)))
    lines.append("}, %r)" % sorted(packages))
    lines.append("# ---- end of bundled modules ----")
    return "\n".join(lines) + "\n"


def py36_violations(paths):
    """Run vermin on `paths` for Python 3.6; returns "" when all are compatible.

    vermin is a test dependency; the export commands do not need it.
    """
    import subprocess
    import sys

    code = "import sys; from vermin.main import main; sys.exit(main())"
    args = [sys.executable, "-c", code, "-t=3.6-", "--violations", "--no-tips"]
    res = subprocess.run(args + [str(p) for p in paths], capture_output=True, text=True)
    return "" if res.returncode == 0 else (res.stdout + res.stderr).strip()
