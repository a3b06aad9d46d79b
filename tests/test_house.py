"""House rules for digest/, read from its source with `ast` (issue 25): no import circle between
its modules, no unexplained import inside a function, no file over 500 lines, no module-level
name bound twice, no private name used across modules."""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterator
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "digest"
MAX_LINES = 500


@cache
def modules() -> dict[str, Path]:
    """Every module of digest by dotted name: `digest.sources` for its __init__.py."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


@cache
def parsed(name: str) -> ast.Module:
    path = modules()[name]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def is_package(name: str) -> bool:
    return modules()[name].name == "__init__.py"


def where(name: str, line: int) -> str:
    return f"{modules()[name].relative_to(PACKAGE.parent)}:{line}"


def absolute(name: str, node: ast.ImportFrom) -> str:
    """The module an ImportFrom names, relative imports resolved against module `name`."""
    if not node.level:
        return node.module or ""
    base = name.split(".")
    if not is_package(name):
        base = base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def ancestors(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:end]) for end in range(1, len(parts))}


def targets(name: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The digest modules an import statement loads: those it names, and the packages on the way
    (importing digest.a.b runs digest/a/__init__.py), except the importer's own packages, whose
    __init__ has begun running before the importer did."""
    known = modules()
    if isinstance(node, ast.Import):
        named = {alias.name for alias in node.names}
    else:
        source = absolute(name, node)
        # `from digest.sources import feeds` imports the submodule digest.sources.feeds
        named = {source} | {f"{source}.{alias.name}" for alias in node.names}
    loaded = set()
    for dotted in named:
        if dotted.split(".")[0] != "digest":
            continue
        loaded |= {module for module in ancestors(dotted) - ancestors(name) if module in known}
        if dotted in known:
            loaded.add(dotted)
    loaded.discard("digest")  # digest/__init__.py: the version alone, imports nothing
    loaded.discard(name)
    return loaded


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def module_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports run as the module loads: at the top, or under if/try/with or in a class body at
    the top; never under `if TYPE_CHECKING:` nor in a function."""
    def walk(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                yield node
            elif isinstance(node, ast.If):
                if not is_type_checking(node.test):
                    yield from walk(node.body)
                yield from walk(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody):
                    yield from walk(block)
                for handler in node.handlers:
                    yield from walk(handler.body)
            elif isinstance(node, ast.With | ast.ClassDef):  # a class body runs as it loads
                yield from walk(node.body)
    yield from walk(tree.body)


def function_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports run when a function (or method) is called, each once however deeply nested."""
    found: dict[int, ast.Import | ast.ImportFrom] = {}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    found[id(node)] = node
    return sorted(found.values(), key=lambda node: node.lineno)


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for name in modules():
        graph[name] = set()
        for node in module_level_imports(parsed(name)):
            graph[name] |= targets(name, node)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the list of modules around it, or None."""
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_circle_between_digests_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def comment_lines(text: str) -> set[int]:
    """The lines of a module's text that hold a comment."""
    return {token.start[0] for token in tokenize.generate_tokens(io.StringIO(text).readline)
            if token.type == tokenize.COMMENT}


def unexplained(tree: ast.Module, text: str) -> Iterator[int]:
    """The lines of the imports inside a function that have no comment on their lines or on the
    line just above. Imports one after the other (isort's groups, a blank line between) share
    the comment above the first."""
    comments, lines = comment_lines(text), text.splitlines()
    lazy = {node.lineno: node for node in function_level_imports(tree)}
    ends = {node.end_lineno: node for node in lazy.values()}

    def explained(node: ast.stmt) -> bool:
        if comments & set(range(node.lineno - 1, (node.end_lineno or node.lineno) + 1)):
            return True
        above = node.lineno - 1
        while above in ends or (above > 0 and not lines[above - 1].strip()):
            if above in ends:
                return explained(ends[above])
            above -= 1
        return False

    for line, node in sorted(lazy.items()):
        if not explained(node):
            yield line


def lazy_imports_unexplained(name: str) -> Iterator[int]:
    """The lines of imports of digest inside a function with no comment saying why."""
    lines = set(unexplained(parsed(name), modules()[name].read_text(encoding="utf-8")))
    for node in function_level_imports(parsed(name)):
        if node.lineno in lines and targets(name, node):
            yield node.lineno


def test_every_import_of_digest_inside_a_function_says_why_it_is_lazy():
    offenders = [where(name, line) for name in modules()
                 for line in sorted(lazy_imports_unexplained(name))]
    assert not offenders, ("imports of digest inside a function, with no comment saying why "
                           f"they are lazy ({len(offenders)}):\n" + "\n".join(offenders))


def test_no_file_in_digest_over_500_lines():
    # the code; not mjml_schema.json, MJML's own rules as data
    long = [where(name, count) for name, path in modules().items()
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not long, f"over {MAX_LINES} lines (file:lines): {long}"


Binding = tuple[str, int, str | None]  # name, line, "package" for `import a.b` binding `a`


def bound_names(node: ast.stmt) -> Iterator[Binding]:
    """The module-level names a statement binds, with its line."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        yield node.name, node.lineno, None
    elif isinstance(node, ast.Import | ast.ImportFrom):
        for alias in node.names:
            if isinstance(node, ast.Import) and not alias.asname:
                # `import email` and `import email.errors` both bind the package `email`
                yield alias.name.split(".")[0], node.lineno, "package"
            elif alias.name != "*":
                yield alias.asname or alias.name, node.lineno, None
    elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
        if isinstance(node, ast.AugAssign):
            return  # changes a name bound before, does not bind it again
        if isinstance(node, ast.AnnAssign) and node.value is None:
            return  # an annotation alone binds nothing
        for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
            for leaf in ast.walk(target):  # `a, b = ...`; not `a.b = ...` nor `a[0] = ...`
                if isinstance(leaf, ast.Name) and isinstance(leaf.ctx, ast.Store):
                    yield leaf.id, node.lineno, None


def is_import_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(kind, ast.Name) and kind.id in ("ImportError", "ModuleNotFoundError")
               for kind in kinds)


def module_bindings(body: list[ast.stmt]) -> Iterator[Binding]:
    """Names bound at module level, an `if TYPE_CHECKING:` block and the ImportError fallback
    of a try (alternatives to what the rest binds) left out; the branches of an ordinary if
    are alternatives too: a name bound in both counts once."""
    for node in body:
        if isinstance(node, ast.If):
            if is_type_checking(node.test):
                continue
            first = list(module_bindings(node.body))
            yield from first
            yield from (binding for binding in module_bindings(node.orelse)
                        if binding[0] not in {name for name, _, _ in first})
        elif isinstance(node, ast.Try):
            yield from module_bindings(node.body)
            yield from module_bindings(node.orelse)
            yield from module_bindings(node.finalbody)
            for handler in node.handlers:
                if not is_import_error(handler):
                    yield from module_bindings(handler.body)
        elif isinstance(node, ast.With):
            yield from module_bindings(node.body)
        else:
            yield from bound_names(node)


def twice_bound(tree: ast.Module) -> list[tuple[str, int]]:
    seen: dict[str, str | None] = {}
    again = []
    for name, line, kind in module_bindings(tree.body):
        if name == "__all__":
            continue
        if name in seen and not (kind == "package" and seen[name] == "package"):
            again.append((name, line))
        seen.setdefault(name, kind)
    return again


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(name: str, tree: ast.Module) -> Iterator[tuple[str, int]]:
    """`from digest.x import _y`, and `x._y` where x is a digest module imported by name."""
    known = modules()
    module_aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = absolute(name, node)
            if source != "digest" and not source.startswith("digest."):
                continue
            for alias in node.names:
                if f"{source}.{alias.name}" in known:
                    module_aliases.add(alias.asname or alias.name)
                elif is_private(alias.name) and source != name:
                    yield f"from {source} import {alias.name}", node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "digest":
                    module_aliases.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            dotted = node.value
            parts = []
            while isinstance(dotted, ast.Attribute):
                parts.append(dotted.attr)
                dotted = dotted.value
            if isinstance(dotted, ast.Name):
                reached = ".".join([dotted.id, *reversed(parts)])
                if reached in module_aliases:
                    yield f"{reached}.{node.attr}", node.lineno


def test_no_module_level_name_bound_twice():
    offenders = [f"{where(name, line)}: {bound}" for name in modules()
                 for bound, line in twice_bound(parsed(name))]
    assert not offenders, "\n".join(offenders)


def test_no_private_name_used_across_digests_modules():
    offenders = [f"{where(name, line)}: {use}" for name in modules()
                 for use, line in private_uses(name, parsed(name))]
    assert not offenders, "\n".join(offenders)


def test_the_rules_see_what_they_are_meant_to():
    tree = ast.parse("from typing import TYPE_CHECKING\n"
                     "if TYPE_CHECKING:\n    from x import A\nelse:\n    A = None\n"
                     "try:\n    import y\nexcept ImportError:\n    y = None\n"
                     "__all__ = []\n__all__ += ['f']\n"
                     "import email\nimport email.errors\n"
                     "def f(): pass\nf = 1\nimport json as f\n")
    assert twice_bound(tree) == [("f", 15), ("f", 16)]
    tree = ast.parse("from digest.text import _private, public\nimport digest.dates as d\n"
                     "from digest.rendering import render\nd._x\nrender._y\npublic._z\n")
    assert [use for use, _ in private_uses("digest.cli", tree)] == [
        "from digest.text import _private", "d._x", "render._y"]


def test_a_lazy_import_is_explained_by_a_comment_beside_it_or_above_its_group():
    text = ("def f():\n"
            "    import json  # lazy: why\n"
            "\n"
            "    from digest import a\n"        # 4: the group's comment is above `import json`
            "    print(a)\n"
            "    from digest import b\n"        # 6: after code, no comment
            "    # lazy: why\n"
            "    from digest import (c,\n"
            "                        d)\n"
            "    from digest import e\n"        # 10
            "    from digest import g  # why\n"
            "\n"
            "\n"
            "def h():\n"
            "    from digest import i\n")       # 15: another function
    assert list(unexplained(ast.parse(text), text)) == [6, 15]
