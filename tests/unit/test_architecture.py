"""The dependency rule of ARCHITECTURE.md, enforced: import-linter contracts live in pyproject.toml."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).parents[2] / "src" / "billing"
FRAMEWORKS = {"aiohttp", "sqlalchemy", "aioboto3", "aiobotocore", "boto3", "botocore", "aiomysql", "aiosqlite",
              "dependency_injector", "aiodogstatsd", "alembic", "argon2", "bcrypt", "orjson", "yaml"}


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=SRC.parents[1], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_imports_no_framework() -> None:
    offenders = {
        str(path.relative_to(SRC)): sorted(_imports(path) & FRAMEWORKS)
        for folder in ("domain", "ports")
        for path in (SRC / folder).rglob("*.py")
        if _imports(path) & FRAMEWORKS
    }
    assert offenders == {}


def test_domain_never_reads_the_clock() -> None:
    offenders = [str(p.relative_to(SRC)) for p in (SRC / "domain").rglob("*.py")
                 if any(s in p.read_text(encoding="utf-8") for s in ("datetime.now(", "utcnow(", "date.today("))]
    assert offenders == []


def _identifiers(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("Idempotent"):
            names.add(node.value)
    return names


def test_the_core_names_no_http_thing() -> None:
    """Headers and responses are the HTTP layer's (idempotency's replay record included)."""
    def http_like(name: str) -> bool:
        return any(w in name.lower() for w in ("header", "response", "idempotent"))

    offenders = {
        str(path.relative_to(SRC)): sorted(filter(http_like, _identifiers(path)))
        for folder in ("domain", "ports")
        for path in (SRC / folder).rglob("*.py")
        if any(map(http_like, _identifiers(path)))
    }
    assert offenders == {}
