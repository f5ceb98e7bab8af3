"""YAML loading that remembers where every value came from.

``load_yaml(path)`` returns the parsed data plus a ``LineMap`` that gives the line of any value by its path
(e.g. ``("constructs", 3, "provenance", 0, "seed")``), so validation errors can name file and line.
Duplicate keys in a mapping are an error (PyYAML would silently keep the last one).

Only plain YAML is read (safe loader: a ``!!python/object`` or other unknown tag is an error naming the tag), and
hostile documents are refused cheaply before anything walks them: files above :data:`MAX_BYTES`, nesting deeper
than :data:`MAX_DEPTH`, and documents whose aliases expand to more than :data:`MAX_NODES` nodes (an alias bomb,
"billion laughs", is a few hundred bytes that expand to billions of nodes).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .errors import RegistryError

if TYPE_CHECKING:
    from pydantic import ValidationError

# libyaml's parser where available (about 10x faster than the pure-Python one; same results and marks); safe loaders
# only: no YAML file vccscale reads may construct Python objects
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_BYTES = 16 * 1024 * 1024    # the largest registry file is ~110 kB
MAX_NODES = 1_000_000           # nodes after alias expansion (the whole shipped registry has far fewer)
MAX_DEPTH = 200                 # nesting of mappings and sequences


@dataclass
class LineMap:
    file: str
    lines: dict[tuple, int] = field(default_factory=dict)

    def line(self, path: tuple) -> int | None:
        """Line of the value at ``path``, or of its nearest ancestor that has one (1-based)."""
        path = tuple(path)
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


def _check_size(root: yaml.Node, file: str, error: type[RegistryError]) -> None:
    """Refuse a node graph whose aliases expand to more than MAX_NODES nodes or that nests deeper than MAX_DEPTH;
    linear in the number of distinct nodes (an alias is the same node object, counted once with its size)."""
    size: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    on_path: set[int] = set()
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            kids = ([c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value)
            total = 1 + sum(size[id(c)] for c in kids)
            if total > MAX_NODES:
                raise error(f"the document is too large: its aliases (*name) expand to more than {MAX_NODES:,} "
                            "values (an alias bomb?); write the values out or use fewer aliases", file=file,
                            line=node.start_mark.line + 1)
            size[key] = total
            continue
        if key in size:
            continue
        if depth > MAX_DEPTH:
            raise error(f"the document nests deeper than {MAX_DEPTH} levels", file=file,
                        line=node.start_mark.line + 1)
        if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            size[key] = 1
            continue
        if key in on_path:  # a recursive alias (a node that contains itself)
            raise error("recursive alias: a value contains itself", file=file, line=node.start_mark.line + 1)
        on_path.add(key)
        stack.append((node, depth, True))
        kids = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
        stack.extend((c, depth + 1, False) for c in kids if id(c) not in size)


def _walk(node: yaml.Node, path: tuple, lm: LineMap, file: str) -> None:
    lm.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise RegistryError("a mapping key must be a plain value (text or number), not a list or mapping",
                                    file=file, line=key_node.start_mark.line + 1)
            key = key_node.value
            if key in seen:
                raise RegistryError(f"duplicate key {key!r} (first at line {seen[key]})", file=file,
                                    line=key_node.start_mark.line + 1, field=key)
            seen[key] = key_node.start_mark.line + 1
            lm.lines[path + (key,)] = key_node.start_mark.line + 1
            if isinstance(key, str) and key.lstrip("-").isdigit():  # PyYAML makes `1:` an int key
                lm.lines[path + (int(key),)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lm, file)
            if isinstance(key, str) and key.lstrip("-").isdigit():
                for sub, ln in list(lm.lines.items()):
                    if sub[:len(path) + 1] == path + (key,):
                        lm.lines.setdefault(path + (int(key),) + sub[len(path) + 1:], ln)
    elif isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            _walk(child, path + (i,), lm, file)


def load_yaml(path: str | Path, error: type[RegistryError] = RegistryError) -> tuple[Any, LineMap]:
    """Parse a YAML file; return (data, line map). Syntax errors name file and line."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_BYTES:
            raise error(f"file too large for a YAML file of vccscale ({p.stat().st_size:,} bytes; at most "
                        f"{MAX_BYTES:,})", file=p)
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error("file not found", file=p) from None
    except IsADirectoryError:
        raise error("a folder, not a YAML file", file=p) from None
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=p) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise error(f"YAML syntax error: {exc.problem or exc}", file=p,
                    line=mark.line + 1 if mark else None) from None
    lm = LineMap(str(p))
    if node is None:
        return None, lm
    _check_size(node, str(p), error)
    try:
        _walk(node, (), lm, str(p))
    except RegistryError as exc:
        raise error(exc.message, file=exc.file, line=exc.line, field=exc.field) from None
    try:
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:  # e.g. a !!python/object tag: the safe loader has no constructor for it
        mark = exc.problem_mark or exc.context_mark
        tag = re.search(r"tag '([^']*)'", str(exc.problem or ""))
        msg = (f"YAML tag {tag.group(1).replace('tag:yaml.org,2002:', '!!')} is not allowed: vccscale reads plain "
               "YAML only (text, numbers, lists, mappings)" if tag else f"YAML error: {exc.problem or exc}")
        raise error(msg, file=p, line=mark.line + 1 if mark else None) from None
    finally:
        loader.dispose()
    return data, lm


def validation_problems(exc: "ValidationError", lm: LineMap, base: tuple = ()) -> list[tuple[str, int | None, str | None]]:
    """pydantic errors as (message, line, dotted field path), with the line looked up in the YAML source."""
    out = []
    for err in exc.errors():
        # drop pydantic's internal location parts (union tags, validator names)
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and (x.endswith("Rel") or "[" in x
                                                                          or x in ("str",))))
        fld = ".".join(str(x) for x in loc) or None
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required field is missing"
        out.append((msg, lm.line(base + loc), fld))
    return out
