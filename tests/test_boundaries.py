"""Which package may import which: the arrows point down, never up.

- `lionlab` (the library users import in their own scripts) imports neither the server nor
  the worker; the server's CLI commands reach it through the `lionlab.commands` entry point.
- The server never imports the worker: the job contract both follow is `lionlab.queues`.
- The server's store imports nothing above it (services, API routes, dashboard, views).

Read from the source's import statements (every one, also inside functions), so an import
made only on some code path counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lionlab.cli

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "lionlab": ROOT / "lionlab",
    "lionlab_server": ROOT / "backend" / "lionlab_server",
    "lionlab_worker": ROOT / "worker" / "lionlab_worker",
}


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module the source of `module` imports, absolute (relative imports resolved);
    for `from a import b`, both a and a.b (b may be a module)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, *([node.module] if node.module else [])])
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def offenders(package: str, forbidden: tuple[str, ...], under: str = "") -> dict[str, list]:
    """{file: [forbidden modules it imports]} for the files of `package` (below `under`)."""
    root = PACKAGES[package]
    out = {}
    for path in sorted((root / under).rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        imports = imported_modules(path.read_text(encoding="utf-8"), module, is_package)
        bad = sorted(m for m in imports if any(m == f or m.startswith(f + ".") for f in forbidden))
        if bad:
            out[str(path.relative_to(ROOT))] = bad
    return out


def test_the_library_imports_neither_server_nor_worker():
    assert offenders("lionlab", ("lionlab_server", "lionlab_worker")) == {}


def test_the_server_never_imports_the_worker():
    assert offenders("lionlab_server", ("lionlab_worker",)) == {}


def test_the_store_imports_nothing_above_it():
    above = tuple(f"lionlab_server.{layer}" for layer in ("services", "api", "web", "views"))
    assert offenders("lionlab_server", above, under="store") == {}


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("from lionlab_server.services.downsample import lod_buckets", "lionlab_server.services"),
        ("import lionlab_worker.celery_app as c", "lionlab_worker"),
        ("def f():\n    from ..services import downsample", "lionlab_server.services"),
        ("from .. import api", "lionlab_server.api"),
    ],
)
def test_every_kind_of_import_is_seen(source, module):
    imports = imported_modules(source, "lionlab_server.store.lod")
    assert any(m == module or m.startswith(module + ".") for m in imports)


def test_the_server_commands_come_through_the_declared_entry_point():
    # The declaration an install registers (pyproject.toml), and the module it names.
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = pyproject.split(f'[project.entry-points."{lionlab.cli.COMMANDS_GROUP}"]')[1]
    declared = section.split("\n[")[0]
    assert 'server = "lionlab_server.commands:register"' in declared
    assert lionlab.cli.BUILTIN_COMMANDS == ("lionlab_server.commands",)
    parser = lionlab.cli.build_parser()
    for argv in (["server"], ["up"], ["migrate"], ["token", "create"], ["backup", "x"]):
        assert parser.parse_args(argv).func.__module__ == "lionlab_server.commands", argv
