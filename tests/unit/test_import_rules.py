"""Which parts of redsweep may import what, read from the source with ``ast`` (nothing is
imported): the engine is pure (no Redis, no wire format, no RQ, not even through another
redsweep module), only the store talks to Redis, only the protocol packs msgpack, and only
the worker daemon uses RQ.

Every import statement counts, wherever it is: at the top, inside a function (a lazy import),
under ``if TYPE_CHECKING:``, and ``importlib.import_module("...")`` with a literal name.
"""

from __future__ import annotations

import ast
import functools
from collections import deque
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "redsweep"

ENGINE = "redsweep.shared.engine"
STORE = "redsweep.shared.store"
PROTOCOL = "redsweep.shared.protocol"
DAEMON = "redsweep.worker.daemon"

#: what no engine module may import, directly or through other redsweep modules
ENGINE_FORBIDDEN = ("redis", "msgpack", "rq", STORE, PROTOCOL)
#: a library -> the only parts of redsweep that may import it (as things stand)
CONFINED = {
    "redis": (STORE,),  # the store is redsweep's one way to Redis
    "msgpack": (PROTOCOL,),  # the wire format (its RQ serializer too) lives in one module
    "rq": (DAEMON,),  # worker daemons run sessions as RQ jobs; nothing else knows RQ
}


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. "redsweep.shared.engine.bayes"; a package is its __init__
    path: str  # shown in messages
    source: str
    is_package: bool = False


@dataclass(frozen=True)
class Import:
    name: str  # the absolute module name imported
    line: int
    statement: str  # as written (unparsed), for messages


def within(name: str, prefix: str) -> bool:
    """Whether module ``name`` is ``prefix`` or inside it."""
    return name == prefix or name.startswith(prefix + ".")


def package_modules() -> dict[str, Module]:
    """Every .py under redsweep/, by module name."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        rel = str(path.relative_to(ROOT))
        modules[name] = Module(name, rel, path.read_text(encoding="utf-8"), is_package)
    return modules


def _absolute(node: ast.ImportFrom, module: Module) -> str:
    if not node.level:
        return node.module or ""
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _is_import_call(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


@functools.cache
def imports(module: Module) -> tuple[Import, ...]:
    """Every module ``module`` imports, from anywhere in its syntax tree.

    ``from A import b`` imports A and, when b is a submodule, A.b: both are listed (a rule
    on A.b must see ``from A import b``; a name that is no module matches no rule).
    """
    found = []
    for node in ast.walk(ast.parse(module.source, filename=module.path)):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, node.lineno, ast.unparse(node)) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base, statement = _absolute(node, module), ast.unparse(node)
            found.append(Import(base, node.lineno, statement))
            found += [
                Import(f"{base}.{alias.name}", node.lineno, statement)
                for alias in node.names
                if alias.name != "*"
            ]
        elif (
            isinstance(node, ast.Call)
            and _is_import_call(node.func)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(Import(node.args[0].value, node.lineno, ast.unparse(node)))
    return tuple(found)


def _where(module: Module, found: Import) -> str:
    return f"{module.path}:{found.line}: `{found.statement}`"


def confinement_violations(modules: dict[str, Module]) -> list[str]:
    """Imports of a CONFINED library from outside the parts allowed it."""
    out: dict[tuple[str, int, str], str] = {}
    for module in modules.values():
        for found in imports(module):
            for library, allowed in CONFINED.items():
                if within(found.name, library) and not any(within(module.name, a) for a in allowed):
                    out.setdefault(
                        (module.name, found.line, library),
                        f"{module.name} imports {library} ({_where(module, found)}); "
                        f"only {' and '.join(allowed)} may",
                    )
    return list(out.values())


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def engine_violations(modules: dict[str, Module]) -> list[str]:
    """ENGINE_FORBIDDEN imports of each engine module: its own, and those of every redsweep
    module importing it loads (transitively, the packages' __init__ modules included)."""
    out: dict[tuple[str, str, int, str], str] = {}
    for start in sorted(n for n in modules if within(n, ENGINE)):
        via = {start: [start]}  # module -> the chain of imports that loads it
        todo = deque([start, *(p for p in _parents(start) if p in modules)])
        for parent in list(todo)[1:]:
            via[parent] = [start, parent]
        while todo:
            name = todo.popleft()
            module = modules[name]
            for found in imports(module):
                bad = next((b for b in ENGINE_FORBIDDEN if within(found.name, b)), None)
                if bad is not None:
                    through = "" if name == start else f" through {' -> '.join(via[name])}"
                    out.setdefault(
                        (start, name, found.line, bad),
                        f"{start} imports {bad}{through} ({_where(module, found)})",
                    )
                    continue  # what a forbidden module imports is its own business
                for dep in (found.name, *_parents(found.name)):
                    if dep in modules and dep not in via:
                        via[dep] = [*via[name], dep]
                        todo.append(dep)
    return list(out.values())


# ---- the rules, on redsweep as it is --------------------------------------------------------


def test_the_walk_sees_the_package_and_its_imports() -> None:
    """Guards the rules below against passing by seeing nothing."""
    modules = package_modules()
    assert sum(within(n, ENGINE) for n in modules) >= 5
    assert any(within(f.name, "redis") for f in imports(modules[f"{STORE}.connection"]))
    assert any(within(f.name, "msgpack") for f in imports(modules[PROTOCOL]))
    daemon_imports = [f.name for n in modules if within(n, DAEMON) for f in imports(modules[n])]
    assert any(within(name, "rq") for name in daemon_imports)


def test_the_engine_imports_no_redis_msgpack_rq_store_or_protocol() -> None:
    violations = engine_violations(package_modules())
    assert not violations, "\n".join(violations)


def test_redis_msgpack_and_rq_are_imported_only_where_they_belong() -> None:
    violations = confinement_violations(package_modules())
    assert not violations, "\n".join(violations)


# ---- the checker itself -----------------------------------------------------------------------


def about(violations: list[str], module: str) -> list[str]:
    """The violations reported of ``module`` (the real package's, if any, are left out)."""
    return [v for v in violations if v.startswith(module + " ")]


def with_fakes(**sources: str) -> dict[str, Module]:
    """The real package plus fake modules (``a__b`` names module ``a.b``)."""
    modules = package_modules()
    for key, source in sources.items():
        name = key.replace("__", ".")
        modules[name] = Module(name, f"<fake {name}>", source)
    return modules


def test_the_checker_reports_an_engine_module_importing_redis_lazily() -> None:
    fake = f"{ENGINE}.fake"
    modules = with_fakes(**{fake.replace(".", "__"): "def connect():\n    import redis\n"})
    engine = about(engine_violations(modules), fake)
    assert engine == [f"{fake} imports redis (<fake {fake}>:2: `import redis`)"]
    confined = about(confinement_violations(modules), fake)
    assert confined == [f"{fake} imports redis (<fake {fake}>:2: `import redis`); only {STORE} may"]


def test_the_checker_follows_redsweep_imports_to_a_forbidden_one() -> None:
    modules = with_fakes(
        redsweep__shared__engine__fake="from redsweep.shared import fake_wire\n",
        redsweep__shared__fake_wire="import os\nfrom msgpack import packb\n",
    )
    violations = about(engine_violations(modules), f"{ENGINE}.fake")
    assert violations == [
        f"{ENGINE}.fake imports msgpack through {ENGINE}.fake -> redsweep.shared.fake_wire "
        "(<fake redsweep.shared.fake_wire>:2: `from msgpack import packb`)"
    ]


def test_the_checker_resolves_from_imports_of_submodules_and_relative_ones() -> None:
    modules = with_fakes(
        redsweep__shared__engine__fake_a="from redsweep.shared import protocol\n",
        redsweep__shared__engine__fake_b="if True:\n    from ..store import keys\n",
    )
    violations = sorted(
        about(engine_violations(modules), f"{ENGINE}.fake_a")
        + about(engine_violations(modules), f"{ENGINE}.fake_b")
    )
    assert len(violations) == 2, violations
    assert violations[0].startswith(f"{ENGINE}.fake_a imports {PROTOCOL} (")
    assert "`from redsweep.shared import protocol`" in violations[0]
    assert violations[1].startswith(f"{ENGINE}.fake_b imports {STORE} (")
    assert "`from ..store import keys`" in violations[1]


def test_the_checker_allows_redis_in_the_store_and_rq_in_the_daemon() -> None:
    modules = with_fakes(
        redsweep__shared__store__fake="import redis.client\n",
        redsweep__worker__daemon__fake="import importlib\nimportlib.import_module('rq.job')\n",
        redsweep__controller__fake="import importlib\nimportlib.import_module('rq.job')\n",
    )
    violations = confinement_violations(modules)
    assert not about(violations, "redsweep.shared.store.fake")
    assert not about(violations, "redsweep.worker.daemon.fake")
    assert about(violations, "redsweep.controller.fake") == [
        "redsweep.controller.fake imports rq (<fake redsweep.controller.fake>:2: "
        "`importlib.import_module('rq.job')`); only redsweep.worker.daemon may"
    ]
