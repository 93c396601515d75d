"""A YAML loader that remembers on which line each key and item was written.

Why: a validation error that says "crowd.noise.count: must be >= 0" is half an answer; the user
wants "scenario.yaml:14". PyYAML's composer keeps a mark on every node, so we compose the document,
build plain Python values ourselves, and keep a map from each value's path to its line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

Path = tuple[str | int, ...]


class YamlLineError(ValueError):
    """The text is not valid YAML; ``line`` is 1-based."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def load_with_lines(text: str) -> tuple[Any, dict[Path, int]]:
    """Parse one YAML document → (plain value, {path: 1-based line})."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Path, int] = {}
        if node is None:
            return None, lines
        value = _build(loader, node, (), lines)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlLineError(f"invalid YAML: {problem}", line) from exc
    except yaml.YAMLError as exc:
        raise YamlLineError(f"invalid YAML: {exc}", None) from exc
    finally:
        loader.dispose()
    return value, lines


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Path, lines: dict[Path, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise YamlLineError(
                    f"invalid YAML: a mapping key must be a plain value, got {type(key).__name__}",
                    key_node.start_mark.line + 1,
                )
            if key in out:
                raise YamlLineError(f"invalid YAML: duplicate key {key!r}", key_node.start_mark.line + 1)
            child = (*path, key if isinstance(key, (str, int)) else str(key))
            lines[child] = key_node.start_mark.line + 1
            out[key] = _build(loader, value_node, child, lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        items: list[Any] = []
        for i, item in enumerate(node.value):
            items.append(_build(loader, item, (*path, i), lines))
        return items
    return loader.construct_object(node, deep=True)


def line_of(loc: Sequence[str | int], lines: dict[Path, int]) -> int | None:
    """The line of the deepest known value along a pydantic error location.

    Pydantic puts extra elements into a location (the tag of a discriminated union, ``function-
    after[...]``); those are skipped: each element either descends into a known path or is ignored.
    """
    path: Path = ()
    best = lines.get(path)
    for part in loc:
        candidate = (*path, part)
        if candidate in lines:
            path = candidate
            best = lines[path]
        elif isinstance(part, str) and part.isdigit() and (*path, int(part)) in lines:
            path = (*path, int(part))
            best = lines[path]
    return best
