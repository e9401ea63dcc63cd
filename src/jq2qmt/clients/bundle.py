"""Bundle package modules into one standalone Python 3.6 file.

The QMT strategy editor and the JoinQuant research root each take plain files, not a
package. So that no logic is written twice, the exported files carry the package's own
modules (rules, engine, signing, follower...) verbatim and load them under a private
top-level package, ``_jq2qmt``.

Every bundled module is created and executed when the file itself runs, in dependency
order, and registered in ``sys.modules``: nothing is imported later (inside a QMT
timer or callback), and no import hook is installed. Some broker builds run an import
whitelist that refuses unknown top-level modules; modules already in ``sys.modules``
pass it, and the bundled code reaches the others only through them (docs/platforms.md).

Rules for a module that is bundled (tests check them):
- Python 3.6 syntax (checked with vermin on the sources extracted from the exported
  file, see `extract_sources`: vermin cannot see code inside string literals).
- It imports other bundled modules only relatively (``from ..rules import codes``) and
  at module level, so the same source works as ``jq2qmt.x`` when installed and
  ``_jq2qmt.x`` when bundled, and a bundled copy never clashes with an installed jq2qmt.
- It does not rely on its package ``__init__``: bundled packages are empty.
"""

import ast
import importlib.util
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
BUNDLE_PACKAGE = "_jq2qmt"

_LOADER = '''\
import linecache as _jq2qmt_linecache
import sys as _jq2qmt_sys
import types as _jq2qmt_types


def _jq2qmt_load_bundle(modules, packages):
    """Create the bundled packages and modules now, in the order given (each after the
    modules it imports), and register them in sys.modules; returns {name: module}."""
    for name in [n for n in _jq2qmt_sys.modules if n.split(".")[0] == "_jq2qmt"]:
        del _jq2qmt_sys.modules[name]  # an earlier paste's modules: this file's code runs
    loaded = {}
    for name in packages:
        package = _jq2qmt_types.ModuleType(name)
        package.__path__ = []
        package.__package__ = name
        _jq2qmt_sys.modules[name] = loaded[name] = package
        parent, _, leaf = name.rpartition(".")
        if parent:
            setattr(loaded[parent], leaf, package)
    for name, source in modules:
        parent, _, leaf = name.rpartition(".")
        module = _jq2qmt_types.ModuleType(name)
        module.__package__ = parent
        module.__file__ = "<%s>" % name
        _jq2qmt_linecache.cache[module.__file__] = (
            len(source), None, source.splitlines(True), module.__file__)
        _jq2qmt_sys.modules[name] = loaded[name] = module
        setattr(loaded[parent], leaf, module)
        exec(compile(source, module.__file__, "exec"), module.__dict__)
    return loaded
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
    return BUNDLE_PACKAGE + name[len("jq2qmt") :]


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


def _imported(name, source, known):
    """The bundled modules that module `name` imports (relative imports only)."""
    package = name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        base = package.split(".")
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
        for alias in node.names:
            if "%s.%s" % (target, alias.name) in known:
                found.add("%s.%s" % (target, alias.name))
            elif target in known:
                found.add(target)
    found.discard(name)
    return found


def load_order(sources):
    """Module names of `sources` ({name: source}) so that each comes after the
    modules it imports; raises ValueError on an import cycle."""
    deps = dict((name, _imported(name, text, sources)) for name, text in sources.items())
    order, done, visiting = [], set(), []

    def visit(name):
        if name in done:
            return
        if name in visiting:
            raise ValueError(
                "import cycle among bundled modules: %s" % " -> ".join(visiting + [name])
            )
        visiting.append(name)
        for dep in sorted(deps[name]):
            visit(dep)
        visiting.pop()
        done.add(name)
        order.append(name)

    for name in sorted(sources):
        visit(name)
    return order


def bundle(modules, encoding="utf-8"):
    """Python source that creates `modules` as ``_jq2qmt.*`` when it runs.

    `modules` lists dotted ``jq2qmt.*`` module names; every parent package becomes
    an empty package. The result is meant to sit in an exported file below its
    header and above the code that uses ``_jq2qmt``; the dict of loaded modules is
    ``_jq2qmt_modules``.
    """
    sources = {}
    packages = set()
    for name in modules:
        text = module_path(name).read_text(encoding="utf-8")
        sources[bundled_name(name)] = text
        parts = bundled_name(name).split(".")
        for i in range(1, len(parts)):
            packages.add(".".join(parts[:i]))
    lines = [
        "# ---- bundled jq2qmt modules (generated; edit the package, not this file) ----",
        _LOADER,
        "_jq2qmt_modules = _jq2qmt_load_bundle([",
    ]
    for name in load_order(sources):
        lines.append("    (%r, %s)," % (name, _literal(sources[name], encoding)))
    lines.append("], %r)" % sorted(packages, key=lambda p: (p.count("."), p)))
    lines.append("# ---- end of bundled modules ----")
    return "\n".join(lines) + "\n"


def extract_sources(path, encoding=None):
    """{bundled module name: source} read back from an exported file, without running
    it (the file's ``_jq2qmt_load_bundle([...])`` call is read with ``ast``)."""
    data = Path(path).read_bytes()
    text = data.decode(encoding or ("gbk" if data.startswith(b"# coding: gbk") else "utf-8"))
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_jq2qmt_load_bundle":
            return dict(ast.literal_eval(node.args[0]))
    raise ValueError("no bundled modules in %s" % path)


def py36_violations_of_bundle(path, workdir):
    """vermin's verdict (see `py36_violations`) on the exported file `path` and on
    each module bundled in it, written out as files under `workdir`."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    files = [Path(path)]
    for name, source in sorted(extract_sources(path).items()):
        target = workdir / (name + ".py")
        target.write_text(source, encoding="utf-8")
        files.append(target)
    return py36_violations(files)


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
