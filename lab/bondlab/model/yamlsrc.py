"""YAML documents that remember where each value came from, and errors that say so.

Every mapping and list the loader builds is a `Located` container: it knows its file and line and the
line of each of its keys/items, so a later check can say `seeds/000.yaml:41: Pod test-pod:
metadata.annotations: expected a string, got a list` instead of a bare traceback.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional


class SourceError(Exception):
    """Bad input: names the file, the line, the path inside the document and what was expected."""

    def __init__(self, message: str, where: str = "", path: str = "", subject: str = "") -> None:
        self.message, self.where, self.path, self.subject = message, where, path, subject
        head = ": ".join(part for part in (where, subject, path) if part)
        super().__init__(f"{head}: {message}" if head else message)


class Located:
    file: str = "<input>"
    line: int = 0
    lines: dict

    def where(self, key: Any = None) -> str:
        line = self.lines.get(key, self.line) if key is not None else self.line
        return f"{self.file}:{line}"


class LDict(dict, Located):
    pass


class LList(list, Located):
    pass


def where(value: Any, key: Any = None, default: str = "<input>") -> str:
    return value.where(key) if isinstance(value, Located) else default


def _loader(file: str):
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader, node):
        loader.flatten_mapping(node)
        out = LDict()
        out.file, out.line, out.lines = file, node.start_mark.line + 1, {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            out[key] = loader.construct_object(value_node, deep=True)
            out.lines[key] = key_node.start_mark.line + 1
        return out

    def sequence(loader, node):
        out = LList()
        out.file, out.line, out.lines = file, node.start_mark.line + 1, {}
        for index, child in enumerate(node.value):
            out.append(loader.construct_object(child, deep=True))
            out.lines[index] = child.start_mark.line + 1
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, sequence)
    return Loader


def load_all(text: str, file: str = "<input>") -> list:
    """All documents of a YAML stream (empty ones dropped); a syntax error becomes a SourceError."""
    import yaml

    try:
        docs = list(yaml.load_all(text, Loader=_loader(file)))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        context = getattr(error, "context", None)
        raise SourceError(
            f"not valid YAML: {problem}" + (f" ({context})" if context else ""), where=f"{file}{line}"
        ) from None
    return [doc for doc in docs if doc is not None]


def load_files(paths: Iterable[str]) -> list:
    docs = []
    for path in paths:
        try:
            with open(path) as stream:
                text = stream.read()
        except OSError as error:
            raise SourceError(f"cannot read: {error.strerror}", where=path) from None
        docs.extend(load_all(text, path))
    return docs


def expect(value: Any, kind: type, parent: Any, key: Any, path: str, subject: str, what: str = "") -> Any:
    """Check one value's type; raise a SourceError at the key's line naming what was expected."""
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    names = {dict: "a mapping", list: "a list", str: "a string", int: "an integer", bool: "true or false"}
    got = type(value).__name__ if value is not None else "nothing"
    raise SourceError(
        f"expected {what or names.get(kind, kind.__name__)}, got {got}",
        where=where(parent, key),
        path=path,
        subject=subject,
    )


def get(
    mapping: Any,
    key: str,
    kind: type,
    path: str,
    subject: str,
    required: bool = False,
    default: Optional[Any] = None,
) -> Any:
    if key not in mapping:
        if required:
            raise SourceError(
                f"missing required key {key!r}", where=where(mapping), path=path, subject=subject
            )
        return default
    return expect(mapping[key], kind, mapping, key, f"{path}.{key}" if path else key, subject)
