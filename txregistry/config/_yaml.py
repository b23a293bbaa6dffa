"""
YAML loading that keeps what distribution's Go parser keeps.

Go's C{yaml.v2} reads any scalar into a string field as written, so
C{secret: 0123} is the string C{"0123"} there, where PyYAML would make it
the octal integer 83.  This loader therefore builds every scalar that YAML
resolves to a non-string (integers, floats, booleans, timestamps) as a
L{TypedScalar}: a L{str} holding the text as written, carrying the resolved
value in L{TypedScalar.value}.  Duplicate keys in a mapping are refused
rather than silently keeping the last one.
"""

from __future__ import annotations

from typing import Any, cast

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode


class TypedScalar(str):
    """
    A plain YAML scalar that did not resolve to a string.

    It compares and hashes as the text written in the document; the value
    YAML resolved it to is in L{value}.

    @ivar value: the resolved value (an L{int}, L{float}, L{bool}, date...).
    """

    value: object

    def __new__(cls, text: str, value: object) -> TypedScalar:
        """
        @param text: the scalar as written in the document.
        @param value: what YAML resolved it to.
        """
        self = super().__new__(cls, text)
        self.value = value
        return self


def resolved(value: object) -> object:
    """
    Return what a loaded value means to YAML: the resolved value of a
    L{TypedScalar}, anything else unchanged.

    @param value: a value produced by L{load_yaml}.
    @return: the resolved value.
    """
    if isinstance(value, TypedScalar):
        return value.value
    return value


class _Loader(yaml.SafeLoader):
    """
    A safe loader that builds L{TypedScalar}s and refuses duplicate keys.
    """

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: set[object] = set()
            for key_node, _ in node.value:
                if (
                    isinstance(key_node, ScalarNode)
                    and key_node.tag != "tag:yaml.org,2002:merge"
                ):
                    key = key_node.value
                    if key in seen:
                        raise ConstructorError(
                            "while constructing a mapping",
                            node.start_mark,
                            f"found duplicate key {key!r}",
                            key_node.start_mark,
                        )
                    seen.add(key)
        return super().construct_mapping(cast(MappingNode, node), deep=deep)


def _keeping_text(constructor: Any) -> Any:
    def construct(loader: _Loader, node: ScalarNode) -> TypedScalar:
        return TypedScalar(node.value, constructor(loader, node))

    return construct


for _tag, _constructor in [
    ("tag:yaml.org,2002:int", SafeConstructor.construct_yaml_int),
    ("tag:yaml.org,2002:float", SafeConstructor.construct_yaml_float),
    ("tag:yaml.org,2002:bool", SafeConstructor.construct_yaml_bool),
    ("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_timestamp),
]:
    _Loader.add_constructor(_tag, _keeping_text(_constructor))


def load_yaml(text: str) -> object:
    """
    Parse one YAML document.

    @param text: the document.
    @return: the document's value: mappings are L{dict}s, sequences
        L{list}s, non-string scalars L{TypedScalar}s, nulls L{None}.
    @raise yaml.YAMLError: if C{text} is not valid YAML or repeats a key.
    """
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
