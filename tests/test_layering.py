"""Imports run one way: ``cli -> jobs -> {squarespace client, store, domain}``.

Every module's imports are walked (module-level and inside functions; not those under
``if TYPE_CHECKING:``, which never run) and each is checked against the layer its module
belongs to. A failure names the file, the line and the import that breaks the rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "sqsync"

# Layers, by module name prefix (the longest prefix wins).
LAYER_OF = {
    "sqsync": "base",  # the package itself: its version and project URL
    "sqsync.errors": "base",
    "sqsync.clock": "base",
    "sqsync.progress": "base",
    "sqsync.prefetch": "base",
    "sqsync.domain": "domain",
    "sqsync.config": "config",
    "sqsync.feeds": "config",
    "sqsync.squarespace": "squarespace",
    "sqsync.emulator": "emulator",
    "sqsync.store": "store",
    "sqsync.jobs": "jobs",
    "sqsync.status": "jobs",
    "sqsync.check": "jobs",
    "sqsync.cli": "cli",
    "sqsync.__main__": "cli",
    "sqsync.output": "cli",
    "sqsync.logs": "cli",
    "sqsync.cron": "cli",
    "sqsync.demo": "cli",
}

# What each layer may import (besides itself). The client knows nothing of the warehouse;
# the emulator is Squarespace's side and knows nothing of ours; the store knows the domain.
ALLOWED = {
    "base": {"base"},
    "domain": {"base"},
    "config": {"base", "domain"},
    "squarespace": {"sqsync", "sqsync.errors"},
    "emulator": {"sqsync.errors"},
    "store": {"base", "domain"},
    "jobs": {"base", "domain", "config", "squarespace", "store"},
    "cli": {"base", "domain", "config", "squarespace", "store", "jobs", "emulator"},
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in LAYER_OF:
            return LAYER_OF[name]
    raise AssertionError(f"{module}: no layer assigned; add it to LAYER_OF")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(
    tree: ast.AST, module: str, is_package: bool
) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names) for each import that runs."""
    found: list[tuple[int, str, list[str]]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((node.lineno, alias.name, []))
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, target] if target else base)
            found.append((node.lineno, target, [a.name for a in node.names]))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def allowed(importer: str, imported: str) -> bool:
    mine, theirs = layer_of(importer), layer_of(imported)
    if mine == theirs:
        return True
    rules = ALLOWED[mine]
    # A rule names a layer, or one exact module (the squarespace and emulator rules).
    return theirs in rules or imported in rules


def violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(SRC.parent)
        for line, imported, names in runtime_imports(tree, module, path.name == "__init__.py"):
            if imported != "sqsync" and not imported.startswith("sqsync."):
                continue
            # `from sqsync.store import catalog` imports the module sqsync.store.catalog.
            targets = [imported]
            if imported == "sqsync" or names:
                targets = [
                    f"{imported}.{name}"
                    if (PACKAGE.parent / f"{imported}.{name}".replace(".", "/"))
                    .with_suffix(".py")
                    .exists()
                    or (PACKAGE.parent / f"{imported}.{name}".replace(".", "/")).is_dir()
                    else imported
                    for name in names
                ] or [imported]
            for target in dict.fromkeys(targets):
                if not allowed(module, target):
                    found.append(
                        f"{where}:{line}: {module} ({layer_of(module)}) imports {target}"
                        f" ({layer_of(target)})"
                    )
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and imported != module:
                found.append(f"{where}:{line}: {module} imports private {imported}.{private}")
    return found


def test_every_import_follows_the_layers() -> None:
    problems = violations()
    assert not problems, "imports against the layering rule:\n" + "\n".join(problems)


def test_jobs_do_not_import_the_runner() -> None:
    # The runner wraps jobs; a job importing it would turn the arrow round.
    problems = []
    for path in sorted((PACKAGE / "jobs").glob("*.py")):
        module = module_name(path)
        if module == "sqsync.jobs.runner":
            continue
        for line, imported, _ in runtime_imports(ast.parse(path.read_text()), module, False):
            if imported == "sqsync.jobs.runner":
                problems.append(f"{path.relative_to(SRC.parent)}:{line}: imports the runner")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("importer", "imported", "ok"),
    [
        ("sqsync.store.orders", "sqsync.domain.orders", True),
        ("sqsync.store.orders", "sqsync.jobs.order_mapping", False),
        ("sqsync.store.orders", "sqsync.config", False),
        ("sqsync.squarespace.client", "sqsync.errors", True),
        ("sqsync.squarespace.client", "sqsync.store", False),
        ("sqsync.emulator.state", "sqsync.squarespace.models", False),
        ("sqsync.jobs.import_orders", "sqsync.cli", False),
        ("sqsync.cli.orders", "sqsync.jobs.runner", True),
    ],
)
def test_the_rule_itself(importer: str, imported: str, ok: bool) -> None:
    assert allowed(importer, imported) is ok


def test_a_type_checking_import_is_not_counted() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from sqsync.jobs import x\n"
        "def f():\n    from sqsync.cli import y\n"
    )
    imports = runtime_imports(tree, "sqsync.store.orders", False)
    assert [(line, name) for line, name, _ in imports] == [(1, "typing"), (5, "sqsync.cli")]
