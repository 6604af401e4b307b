"""The layer rules of ARCHITECTURE.md, enforced over the import graph of ``src/cxstack``.

Every module is parsed with ``ast``; every ``import`` and ``from ... import`` counts, wherever it stands
(module level, inside a function, under ``if TYPE_CHECKING:``), and so does ``importlib.import_module``
with a literal name. Relative imports are resolved against the importing module's package, and
``from package import name`` counts as an import of ``package.name`` when that is a module.

The rules:

- ``kit`` (generic building blocks) imports only ``kit``; every other part may import it (but ``config``).
- ``backbone`` imports only ``backbone``, ``kit`` and ``config``.
- ``governance`` imports only ``backbone`` and ``governance``.
- A layer (``records``, ``channels``, ``routing``, ``workspace``, ``automation``, ``analytics``,
  ``retention``, ``interop``) imports ``backbone``, ``governance``, ``config`` (the settings' types, handed
  to it by the composition roots), its own package, and of ``records`` only the public modules
  ``cxstack.records.<domain>.service`` and ``.schemas`` (``records`` itself may import anything of
  ``records``). Its ``api`` modules may also import ``web``.
- ``web`` imports the layers' ``api`` modules, ``backbone``, ``governance``, ``runtime``, ``config`` and
  ``web``.
- ``config`` and the ``cxstack`` package itself import nothing of cxstack.
- ``cli``, ``migrations``, ``wiring``, ``tables`` and ``runtime`` are composition roots: anything goes.
- Nothing imports ``web`` but ``web``, the layers' ``api`` modules and the composition roots.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT_PACKAGE = "cxstack"

KIT = "kit"
BACKBONE = "backbone"
GOVERNANCE = "governance"
RECORDS = "records"
WEB = "web"
CONFIG = "config"
#: Layers that share one rule: backbone, governance, their own package and records' public modules.
LAYERS = frozenset(
    {RECORDS, "channels", "routing", "workspace", "automation", "analytics", "retention", "interop"}
)
#: Composition roots: they assemble the layers, so they may import anything.
COMPOSITION_ROOTS = frozenset({"cli", "migrations", "wiring", "tables", "runtime"})
KNOWN = LAYERS | COMPOSITION_ROOTS | {KIT, BACKBONE, GOVERNANCE, WEB, CONFIG}
#: The modules of a records domain that other layers may import.
RECORDS_PUBLIC = frozenset({"service", "schemas"})
#: The fewest modules a scan of the real tree must find; fewer means the scan looked in the wrong place.
MIN_MODULES = 30


@dataclass(frozen=True, slots=True, order=True)
class ImportEdge:
    """``importer`` (a module, defined in ``path``) imports ``imported`` at ``line``."""

    importer: str
    imported: str
    path: str
    line: int


@dataclass(frozen=True, slots=True)
class Violation:
    edge: ImportEdge
    reason: str

    def __str__(self) -> str:
        edge = self.edge
        return f"{edge.path}:{edge.line}: {edge.importer} imports {edge.imported}: {self.reason}"


# --- the import graph ------------------------------------------------------------------------------


def module_files(src: Path, package: str = ROOT_PACKAGE) -> dict[str, Path]:
    """Return every module of ``package`` under ``src`` by dotted name (a package by its ``__init__``)."""
    modules: dict[str, Path] = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _resolve_relative(importer: str, is_package: bool, level: int, module: str | None) -> str:
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    if level - 1 > len(package) - 1:
        raise ValueError(f"relative import beyond the top-level package in {importer}")
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _literal_import_module(node: ast.Call) -> str | None:
    function = node.func
    named = (isinstance(function, ast.Attribute) and function.attr == "import_module") or (
        isinstance(function, ast.Name) and function.id in {"import_module", "__import__"}
    )
    if named and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


def imports_of(
    importer: str, source: str, *, path: str, is_package: bool, known: Iterable[str]
) -> list[ImportEdge]:
    """Return every import of ``ROOT_PACKAGE`` modules that the source of ``importer`` makes."""
    known_modules = set(known)
    edges: list[ImportEdge] = []

    def add(imported: str, line: int) -> None:
        if imported == ROOT_PACKAGE or imported.startswith(ROOT_PACKAGE + "."):
            edges.append(ImportEdge(importer, imported, path, line))

    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = (
                _resolve_relative(importer, is_package, node.level, node.module)
                if node.level
                else node.module or ""
            )
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                add(submodule if submodule in known_modules else base, node.lineno)
        elif isinstance(node, ast.Call):
            literal = _literal_import_module(node)
            if literal is not None:
                add(literal, node.lineno)
    return edges


def scan(src: Path, package: str = ROOT_PACKAGE) -> tuple[dict[str, Path], list[ImportEdge]]:
    """Return the modules of ``package`` under ``src`` and every import between them."""
    modules = module_files(src, package)
    edges: list[ImportEdge] = []
    for name, path in modules.items():
        edges += imports_of(
            name,
            path.read_text(encoding="utf-8"),
            path=str(path.relative_to(src.parent)),
            is_package=path.name == "__init__.py",
            known=modules,
        )
    return modules, sorted(edges)


# --- the rules -------------------------------------------------------------------------------------


def layer_of(module: str) -> str:
    """Return the layer of a module: its top-level package under cxstack ('' for cxstack itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def is_api_module(module: str) -> bool:
    parts = module.split(".")
    return layer_of(module) in LAYERS and parts[-1] == "api"


def is_records_public(module: str) -> bool:
    parts = module.split(".")
    return len(parts) == 4 and parts[1] == RECORDS and parts[3] in RECORDS_PUBLIC


def rule_broken(importer: str, imported: str) -> str | None:
    """Return why ``importer`` may not import ``imported``, or None when it may."""
    source, target = layer_of(importer), layer_of(imported)
    if source and source not in KNOWN:
        return f"'{source}' is not a layer ARCHITECTURE.md knows; add it there and to tests/test_layers.py"
    if source in COMPOSITION_ROOTS:
        return None
    if target == WEB and source != WEB and not is_api_module(importer):
        return "only web itself, layers' api modules and composition roots may import cxstack.web"
    if target == source and source:
        return None
    if source == "":
        return "the cxstack package itself imports nothing of cxstack"
    if source == CONFIG:
        return "config imports nothing of cxstack"
    if source == KIT:
        return "kit imports only kit"
    if target == KIT:
        return None
    if source == BACKBONE:
        return None if target == CONFIG else "backbone imports only backbone and config"
    if source == GOVERNANCE:
        return None if target == BACKBONE else "governance imports only backbone and governance"
    if source == WEB:
        if target in {BACKBONE, GOVERNANCE, "runtime", CONFIG} or is_api_module(imported):
            return None
        return "web imports only layers' api modules, backbone, governance, runtime and config"
    # source is one of LAYERS
    if target in {BACKBONE, GOVERNANCE, CONFIG}:
        return None
    if target == WEB:  # an api module, allowed above
        return None
    if target == RECORDS:
        if is_records_public(imported):
            return None
        return (
            "other layers import only records' public modules (cxstack.records.<domain>.service or .schemas)"
        )
    return f"{source} imports only backbone, governance, config, its own package and records' public modules"


def violations(edges: Iterable[ImportEdge]) -> list[Violation]:
    found = []
    for edge in edges:
        reason = rule_broken(edge.importer, edge.imported)
        if reason is not None:
            found.append(Violation(edge, reason))
    return found


# --- the tests -------------------------------------------------------------------------------------


def test_cxstack_imports_follow_the_layer_rules() -> None:
    modules, edges = scan(SRC)
    assert len(modules) > MIN_MODULES, f"scanned only {len(modules)} modules under {SRC}; wrong place?"
    assert edges, "no imports between cxstack modules were found; the scan is broken"
    broken = violations(edges)
    assert not broken, "layer rules broken (see ARCHITECTURE.md, Layers):\n" + "\n".join(map(str, broken))


def _write(root: Path, relative: str, source: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")


@pytest.fixture
def synthetic_tree(tmp_path: Path) -> Path:
    """A small cxstack tree with one legal and several illegal imports, each written a different way."""
    src = tmp_path / "src"
    for package in (
        "cxstack",
        "cxstack/backbone",
        "cxstack/records",
        "cxstack/records/customers",
        "cxstack/routing",
        "cxstack/routing/queues",
        "cxstack/web",
        "cxstack/cli",
    ):
        _write(src, f"{package}/__init__.py", "")
    for module in ("models", "service", "schemas"):
        _write(src, f"cxstack/records/customers/{module}.py", "")
    _write(src, "cxstack/web/responses.py", "")
    _write(
        src, "cxstack/runtime.py", "import cxstack.web.responses\nfrom cxstack.routing.queues import api\n"
    )
    _write(
        src,
        "cxstack/backbone/bus.py",
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "from cxstack.backbone import ids\n"
        "if TYPE_CHECKING:\n"
        "    from cxstack.records.customers.models import Customer\n"  # line 5
        "def late() -> None:\n"
        "    import cxstack.routing.queues.service\n",  # line 7
    )
    _write(src, "cxstack/backbone/ids.py", "")
    _write(
        src,
        "cxstack/routing/queues/service.py",
        "from cxstack.records.customers import service, models\n"  # line 1: service fine, models not
        "from ...records.customers.schemas import CustomerOut\n"  # line 2: fine
        "from ..queues import api\n"  # line 3: own package
        "from cxstack.web import responses\n"  # line 4: web from a non-api module
        "import importlib\n"
        "importlib.import_module('cxstack.records.customers.models')\n",  # line 6
    )
    _write(src, "cxstack/routing/queues/api.py", "from cxstack.web.responses import read\n")
    _write(src, "cxstack/telemetry.py", "import cxstack.backbone.ids\n")
    return src


def test_checker_reports_illegal_imports_however_they_are_written(synthetic_tree: Path) -> None:
    modules, edges = scan(synthetic_tree)
    assert "cxstack.routing.queues.service" in modules
    assert "cxstack.records.customers" in modules
    found = {(v.edge.importer, v.edge.line, v.edge.imported) for v in violations(edges)}
    assert found == {
        ("cxstack.backbone.bus", 5, "cxstack.records.customers.models"),
        ("cxstack.backbone.bus", 7, "cxstack.routing.queues.service"),
        ("cxstack.routing.queues.service", 1, "cxstack.records.customers.models"),
        ("cxstack.routing.queues.service", 4, "cxstack.web.responses"),
        ("cxstack.routing.queues.service", 6, "cxstack.records.customers.models"),
        ("cxstack.telemetry", 1, "cxstack.backbone.ids"),
    }
    message = str(next(v for v in violations(edges) if v.edge.importer == "cxstack.backbone.bus"))
    assert message.startswith("src/cxstack/backbone/bus.py:5: ")
    assert "cxstack.records.customers.models" in message


def test_relative_imports_resolve_against_the_importing_package() -> None:
    known = {"cxstack.records.customers.service", "cxstack.records.customers.models"}
    edges = imports_of(
        "cxstack.records.customers",
        "from . import service\nfrom .models import Customer\nfrom .. import customers\n",
        path="x",
        is_package=True,
        known=known,
    )
    assert [e.imported for e in edges] == [
        "cxstack.records.customers.service",
        "cxstack.records.customers.models",
        "cxstack.records",
    ]


@pytest.mark.parametrize(
    ("importer", "imported", "allowed"),
    [
        ("cxstack.backbone.database", "cxstack.config", True),
        ("cxstack.backbone.database", "cxstack.governance.audit.service", False),
        ("cxstack.governance.audit.service", "cxstack.backbone.ids", True),
        ("cxstack.governance.audit.service", "cxstack.config", False),
        ("cxstack.channels.sms.service", "cxstack.records.customers.service", True),
        ("cxstack.channels.sms.service", "cxstack.records.customers.schemas", True),
        ("cxstack.channels.sms.service", "cxstack.records.customers.repository", False),
        ("cxstack.channels.sms.service", "cxstack.routing.queues.service", False),
        ("cxstack.channels.sms.service", "cxstack.runtime", False),
        ("cxstack.channels.sms.service", "cxstack.wiring", False),
        ("cxstack.channels.sms.handlers", "cxstack.config", True),
        ("cxstack.channels.sms.api", "cxstack.web.responses", True),
        ("cxstack.records.cases.service", "cxstack.records.customers.repository", True),
        ("cxstack.interop.webhooks.service", "cxstack.governance.tenants.service", True),
        ("cxstack.web.app", "cxstack.records.customers.api", True),
        ("cxstack.web.app", "cxstack.records.customers.service", False),
        ("cxstack.web.auth", "cxstack.runtime", True),
        ("cxstack.web.app", "cxstack.wiring", False),
        ("cxstack.wiring", "cxstack.records.customers.schemas", True),
        ("cxstack.cli.main", "cxstack.web.server", True),
        ("cxstack.migrations.env", "cxstack.tables", True),
        ("cxstack.config", "cxstack.backbone.ids", False),
        ("cxstack.config", "cxstack.kit.ids", False),
        ("cxstack.kit.pagination", "cxstack.kit.errors", True),
        ("cxstack.kit.files", "cxstack.backbone.database", False),
        ("cxstack.kit.files", "cxstack.config", False),
        ("cxstack.records.customers.service", "cxstack.kit.clock", True),
        ("cxstack.routing.engine", "cxstack.kit.errors", True),
        ("cxstack.routing.simulation", "cxstack.config", True),
        ("cxstack.routing.engine", "cxstack.backbone.events", True),
        ("cxstack.routing.engine", "cxstack.governance.tenants.service", True),
        ("cxstack.routing.engine", "cxstack.records.customers.service", True),
        ("cxstack.routing.engine", "cxstack.records.customers.models", False),
        ("cxstack.routing.engine", "cxstack.channels.webchat.service", False),
        ("cxstack.channels.webchat.service", "cxstack.routing.engine", False),
        ("cxstack.web.responses", "cxstack.kit.pagination", True),
    ],
)
def test_rules_allow_and_refuse_as_architecture_md_says(importer: str, imported: str, allowed: bool) -> None:
    assert (rule_broken(importer, imported) is None) is allowed
