"""The package's layers, checked on the source: which part of jq2qmt may import which.

Every import of every module (top level or inside a function, absolute or relative)
is read from the AST and mapped to the part it names: a subpackage (`engine`,
`store`, ...) or a top-level module (`config`, `signing`, ...). An import between two
parts must be listed in ALLOWED; the allowed graph itself has no cycle, and no two
modules import each other, directly or around a loop. A new edge is a design decision:
add it to the table with the reason, or move the shared piece to the lower part.
"""

import ast
from pathlib import Path

import pytest

import jq2qmt

PKG = Path(jq2qmt.__file__).resolve().parent

# part -> the parts it may import. Lower parts first; each list names only parts
# above it in this table, so the layers form no cycle.
ALLOWED = {
    # pure, bundled into the exported QMT file (Python 3.6, stdlib only)
    "rules": set(),
    "engine": {"rules"},
    "signing": set(),
    # the package's own facts, read by everyone
    "__init__": set(),  # __version__
    "config": set(),
    "trading_calendar": set(),  # the A-share calendar the server sends
    "metrics": set(),
    "logging_setup": {"config"},
    # simulators of the exchange and the brokers' platforms (tests, demo, paper broker)
    "sim": {"rules", "engine"},
    # broker adapters; the paper broker trades on the simulated exchange
    "brokers": {"rules", "sim"},
    # the follower (bundled): plan -> orders through a broker
    "follower": {"rules", "engine", "brokers", "signing", "__init__"},
    # the JoinQuant uploader and the exporters of client files
    "clients": {"signing", "config", "__init__", "rules", "engine", "follower", "brokers"},
    # the database: tables, reads, writes, migrations, backup
    "store": {"rules", "engine", "signing", "config", "trading_calendar", "__init__"},
    # notifications and the server's watchdog (tables in store, market hours in rules)
    "notify": {"store", "rules", "trading_calendar", "config", "__init__"},
    "server": {
        "store",
        "notify",
        "engine",
        "rules",
        "signing",
        "config",
        "metrics",
        "trading_calendar",
        "logging_setup",
        "__init__",
    },
    "instance": {"config", "signing", "store", "__init__"},
    "demo": {
        "server",
        "store",
        "instance",
        "clients",
        "follower",
        "brokers",
        "sim",
        "trading_calendar",
        "config",
        "__init__",
    },
    "cli": {
        "demo",
        "instance",
        "server",
        "store",
        "notify",
        "clients",
        "follower",
        "brokers",
        "sim",
        "engine",
        "rules",
        "signing",
        "config",
        "logging_setup",
        "metrics",
        "trading_calendar",
        "__init__",
    },
    "__main__": {"cli"},
}

# Module-level edges against the table's direction, each with its reason. Keep short.
EXCEPTIONS = {
    # The xtquant simulator finds the real wheel's xttype/xtconstant the way the
    # adapter does (one loader, lazy, only in tests and the demo).
    ("jq2qmt.sim.xtquant", "jq2qmt.brokers.miniqmt"),
}


def _modules():
    """{dotted module name: path} of every module of the package."""
    found = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name):
    """The module an import names: `name` itself, or its package for an attribute."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports_of(module, path):
    """[(line, imported module)] of every jq2qmt import in the module's source."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names = [source + "." + alias.name for alias in node.names] or [source]
            # `from x import y` names module x.y when there is one, else x itself
            names = [n if n in MODULES else source for n in names]
        else:
            continue
        for name in names:
            if name == "jq2qmt" or name.startswith("jq2qmt."):
                found.append((node.lineno, _resolve(name)))
    return found


def part(module):
    """The part of a module: its subpackage, or its top-level module's name."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


EDGES = [
    (module, line, target)
    for module, path in sorted(MODULES.items())
    for line, target in imports_of(module, path)
]


def test_every_part_is_in_the_table():
    assert sorted({part(m) for m in MODULES} - set(ALLOWED)) == []


def test_imports_between_parts_follow_the_table():
    bad = []
    for module, line, target in EDGES:
        source_part, target_part = part(module), part(target)
        if source_part == target_part or (module, target) in EXCEPTIONS:
            continue
        if target_part not in ALLOWED[source_part]:
            bad.append(
                "%s:%d imports %s (%s -> %s is not in tests/test_layers.py ALLOWED)"
                % (MODULES[module].relative_to(PKG.parent), line, target, source_part, target_part)
            )
    assert not bad, "\n".join(bad)


def test_the_allowed_layers_have_no_cycle():
    order = list(ALLOWED)
    for name, allowed in ALLOWED.items():
        later = [p for p in allowed if order.index(p) >= order.index(name)]
        assert not later, "%s may import %s, listed after it" % (name, later)


def _cycles(graph):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_modules_import_each_other():
    graph = {}
    for module, _, target in EDGES:
        # a package's __init__ importing its own modules is how packages work
        if target != module and not target.startswith(module + "."):
            graph.setdefault(module, set()).add(target)
    assert _cycles(graph) == []


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from . import codes", ["jq2qmt.rules.codes"]),
        ("from ..rules.instrument import instrument", ["jq2qmt.rules.instrument"]),
        ("def f():\n    from jq2qmt.store.models import Base", ["jq2qmt.store.models"]),
        ("import jq2qmt.notify.store", ["jq2qmt.notify.store"]),
        ("from jq2qmt import __version__, signing", ["jq2qmt", "jq2qmt.signing"]),
    ],
)
def test_the_check_sees_every_form_of_import(tmp_path, source, expected):
    path = tmp_path / "lots.py"
    path.write_text(source, encoding="utf-8")
    assert [t for _, t in imports_of("jq2qmt.rules.lots", path)] == expected
