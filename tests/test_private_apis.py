"""
The private names of Twisted, h2, hyperframe and pyOpenSSL that txregistry
relies on are all listed in L{txregistry.privates}, and all still there.
"""

from __future__ import annotations

import ast
import importlib
import re
import tomllib
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

from txregistry.privates import PRIVATE_NAMES, defines, mentions, missingPart

ROOT = Path(__file__).parent.parent
#: The fenced libraries: top-level module -> distribution.
FENCED = {"twisted": "Twisted", "h2": "h2", "hyperframe": "hyperframe", "OpenSSL": "pyOpenSSL"}
#: Names with a leading underscore that are public: named tuples' methods.
PUBLIC = frozenset(["_asdict", "_field_defaults", "_fields", "_make", "_replace"])


def pinned(distribution: str) -> str:
    """
    @return: C{distribution}'s requirement in C{pyproject.toml}.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        if re.match(rf"{re.escape(distribution)}\b", requirement, re.IGNORECASE):
            return str(requirement)
    return f"{distribution} (not pinned)"


def describeMissing(user: str, name: str, part: str) -> str:
    """
    @return: what to say when C{part} of C{name}, which C{user} relies on,
        is missing.
    """
    distribution = FENCED[name.split(".", 1)[0]]
    return (f"{part} is missing from {distribution} {version(distribution)}: "
            f"{user} relies on {name}, measured against {pinned(distribution)} "
            "(pyproject.toml); adapt the code to the new version before moving the pin")


def test_everyPrivateNameIsThere() -> None:
    """
    Every listed private name resolves in the installed libraries; a missing
    one fails naming it, its library's version and the pin.
    """
    missing = [
        describeMissing(user, name, part)
        for user, names in PRIVATE_NAMES.items()
        for name in names
        if (part := missingPart(name)) is not None
    ]
    assert not missing, "\n".join(missing)


def test_missingNameIsDescribed() -> None:
    """
    A name that is not there is found missing, and described with its
    library's installed version and the pin from C{pyproject.toml}.
    """
    name = "twisted.web.http:HTTPChannel._noSuchAttribute"
    assert missingPart(name) == name
    assert missingPart("twisted.web._noSuchModule:Thing") == "twisted.web._noSuchModule"
    assert missingPart("OpenSSL.SSL:_lib.SSL_noSuchFunction") == "OpenSSL.SSL:_lib.SSL_noSuchFunction"
    message = describeMissing("txregistry.http.request", name, name)
    assert message.startswith(f"{name} is missing from Twisted {version('Twisted')}: ")
    assert "measured against twisted[tls,http2]>=" in message


def test_instanceAttributesCount() -> None:
    """
    An attribute only used on C{self} by a class's methods counts as that
    class's; one that is neither used so nor a class attribute does not.
    """
    from twisted.web.http import HTTPChannel
    assert defines(HTTPChannel, "_command")
    assert not defines(HTTPChannel, "_commandd")


def isFenced(module: str) -> bool:
    """
    @return: whether C{module} belongs to a fenced library.
    """
    return module.split(".", 1)[0] in FENCED


def isPrivate(dotted: str) -> bool:
    """
    @return: whether a part of the dotted name C{dotted} is private.
    """
    return any(part.startswith("_") and not part.startswith("__") for part in dotted.split("."))


def ownerOf(cls: type, attribute: str) -> type | None:
    """
    @return: the class of a fenced library among C{cls}'s bases that has
        C{attribute} as its own class attribute, else the first that uses
        it on C{self}; or L{None}.
    """
    fenced = [base for base in cls.__mro__[1:] if isFenced(base.__module__)]
    return (next((base for base in fenced if attribute in vars(base)), None)
            or next((base for base in fenced if mentions(base, attribute)), None))


def resolve(dotted: str) -> str:
    """
    @return: C{dotted} as C{module:attribute.path}, splitting at its longest
        importable prefix.
    """
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        return ".".join(parts[:cut]) + ":" + ".".join(parts[cut:])
    return dotted


def attributeChain(node: ast.expr) -> list[str] | None:
    """
    @return: C{a.b.c} as C{["a", "b", "c"]}, or L{None} if C{node} is not
        a chain of attributes on a name.
    """
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.insert(0, node.attr)
        node = node.value
    return [node.id, *names] if isinstance(node, ast.Name) else None


def selfAttribute(node: ast.AST) -> str | None:
    """
    @return: the attribute C{node} reads or writes on C{self}, C{cls} or
        C{super()}, if it does.
    """
    if not isinstance(node, ast.Attribute):
        return None
    value = node.value
    if isinstance(value, ast.Name) and value.id in ("self", "cls"):
        return node.attr
    if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "super":
        return node.attr
    return None


def privateUses(module: str, tree: ast.Module) -> Iterator[str]:
    """
    @return: the private names of the fenced libraries C{module} uses, as
        C{module:attribute.path}; an attribute of an object whose type the
        source does not say is given as C{*._name}.
    """
    imported: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and isFenced(node.module):
            for alias in node.names:
                imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                if isPrivate(f"{node.module}.{alias.name}"):
                    yield resolve(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if isFenced(alias.name):
                    # "import a.b" binds a; "import a.b as c" binds c to a.b.
                    top = alias.name.split(".", 1)[0]
                    imported[alias.asname or top] = alias.name if alias.asname else top
    loaded = importlib.import_module(module)
    own = ownNames(tree)
    classMembers: set[int] = set()
    for node in ast.walk(tree):
        cls = getattr(loaded, node.name, None) if isinstance(node, ast.ClassDef) else None
        if not isinstance(cls, type):
            continue
        for member in ast.walk(node):
            name = selfAttribute(member) or (
                member.name if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef) else None)
            owner = ownerOf(cls, name) if name and not name.startswith("__") else None
            if owner is not None and isPrivate(f"{owner.__module__}.{owner.__qualname__}.{name}"):
                classMembers.add(id(member))
                yield f"{owner.__module__}:{owner.__qualname__}.{name}"
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in classMembers:
            continue
        chain = attributeChain(node)
        if chain is not None and chain[0] in imported:
            dotted = ".".join([imported[chain[0]], *chain[1:]])
            if isPrivate(dotted):
                yield resolve(dotted)
        elif isPrivate(node.attr) and node.attr not in own and node.attr not in PUBLIC:
            yield f"*.{node.attr}"


def modules() -> Iterator[tuple[str, ast.Module]]:
    """
    @return: the name and syntax tree of each module of txregistry.
    """
    for path in sorted((ROOT / "txregistry").rglob("*.py")):
        if path.name != "__main__.py":
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(p for p in parts if p != "__init__"), ast.parse(path.read_text())


def ownNames(tree: ast.Module) -> set[str]:
    """
    @return: the names a module defines itself: its functions, classes,
        methods, variables and the attributes it assigns to C{self}.
    """
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
              and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            names.add(node.attr)
    return names


def test_everyPrivateUseIsListed() -> None:
    """
    The private names the code uses (imports, overrides and attributes of
    the fenced libraries' objects) are listed for the module using them,
    and each name listed for a module is still in its source.
    """
    unlisted, unused = [], []
    for module, tree in modules():
        listed = PRIVATE_NAMES.get(module, ())
        lastParts = {re.split("[.:]", name)[-1] for name in listed}
        unlisted += [f"{module} uses {name}" for name in sorted(set(privateUses(module, tree)))
                     if name not in listed and name.removeprefix("*.") not in lastParts]
        source = ast.unparse(tree)
        unused += [f"{module} lists {name}" for name in listed
                   if not re.search(rf"\b{re.escape(re.split('[.:]', name)[-1])}\b", source)]
    assert not unlisted, "not listed in txregistry.privates:\n" + "\n".join(unlisted)
    assert not unused, "listed in txregistry.privates but not used:\n" + "\n".join(unused)


def test_fencedClassesAreFound() -> None:
    """
    An override of a fenced class's private method is found with the
    class that defines it.
    """
    from txregistry.http.request import RegistryChannel
    assert ownerOf(RegistryChannel, "_send100Continue") is importlib.import_module(
        "twisted.web.http").HTTPChannel
    assert ownerOf(RegistryChannel, "_sawData") is None
