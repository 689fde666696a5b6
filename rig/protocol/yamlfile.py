"""Read a YAML file into a pydantic model with errors a technician can act on.

Shared by protocol files (``rig.protocol.load``) and calibration files
(``rig.calibration_io``). Every problem becomes one line::

    protocols/x.yaml:14 stimulation.pulse_width_ms: 60 ms pulses do not fit a 20 Hz period (50 ms)

i.e. ``FILE[:LINE] FIELD.PATH: reason``. Line numbers come from the composed YAML node
tree; a missing field points at its parent's line. All problems found are reported
together, one per line. Bad input changes nothing: these functions only read.

The YAML dialect is YAML 1.1 as PyYAML reads it, except that only ``true``/``false``
are booleans: ``mode: off`` stays the text ``off`` (YAML 1.1 would turn ``off``,
``on``, ``yes``, ``no`` into booleans, a classic trap in protocol files).
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from rig.errors import CalibrationError, ProtocolError, RigError

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

#: Protocol, calibration and rig files are small; anything larger is a mistake (or an attack).
MAX_FILE_BYTES = 1_000_000
#: Values a document may expand to through its aliases (a protocol has a few hundred).
MAX_EXPANDED_NODES = 100_000


class _Loader(yaml.SafeLoader):
    """SafeLoader where only true/false (any case) are booleans."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


@dataclass(frozen=True, slots=True)
class FileIssue:
    """One problem in one file: where (file, line, field path) and why."""

    file: str
    line: int | None
    field: str
    reason: str

    @property
    def message(self) -> str:
        return format_issue(self.file, self.line, self.field, self.reason)


def format_issue(file: str, line: int | None, field: str, reason: str) -> str:
    """``FILE[:LINE] FIELD: reason`` (or ``FILE[:LINE]: reason`` for whole-file problems)."""
    where = f"{file}:{line}" if line is not None else file
    return f"{where} {field}: {reason}" if field else f"{where}: {reason}"


class _IssuesMixin:
    issues: tuple[FileIssue, ...]


class ProtocolFileError(ProtocolError, _IssuesMixin):
    """A protocol file is invalid; ``issues`` holds each problem, ``str()`` one per line."""

    def __init__(self, issues: Sequence[FileIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(issue.message for issue in self.issues))


class CalibrationFileError(CalibrationError, _IssuesMixin):
    """A calibration file is invalid; ``issues`` holds each problem, ``str()`` one per line."""

    def __init__(self, issues: Sequence[FileIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(issue.message for issue in self.issues))


ErrorFactory = Callable[[Sequence[FileIssue]], RigError]


def display_path(path: Path) -> str:
    """The path as a user would type it: relative to the current folder when inside it."""
    try:
        return os.fspath(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return os.fspath(path)


def field_path(loc: Loc) -> str:
    """``('phases', 1, 'duration_s')`` -> ``phases[1].duration_s``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True)
class YamlDocument:
    """A YAML file read once: exact bytes, parsed data and the node tree for line numbers."""

    path: Path
    label: str
    raw: bytes
    data: dict[str, Any]
    root: yaml.Node

    def line_of(self, loc: Loc) -> int | None:
        return node_line(self.root, loc)

    def issue(self, loc: Loc, reason: str) -> FileIssue:
        return FileIssue(self.label, self.line_of(loc), field_path(loc), reason)


def node_line(root: yaml.Node, loc: Loc) -> int | None:
    """1-based line of the field at ``loc``; for a missing field, its parent's line."""
    line: int = root.start_mark.line + 1
    current: yaml.Node = root
    for part in loc:
        if isinstance(current, yaml.MappingNode) and isinstance(part, str):
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    line = key.start_mark.line + 1
                    current = value
                    break
            else:
                return line
        elif (
            isinstance(current, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(current.value)
        ):
            current = current.value[part]
            line = current.start_mark.line + 1
        else:
            return line
    return line


def read_yaml(path: str | os.PathLike[str], error: ErrorFactory, what: str) -> YamlDocument:
    """Read ``path`` as a YAML mapping; raise ``error([...])`` naming the file on any problem.

    ``what`` names the kind of file in messages ("protocol", "calibration").
    """
    path = Path(path)
    label = os.fspath(path)

    def fail(reason: str, line: int | None = None) -> RigError:
        return error([FileIssue(label, line, "", reason)])

    if not path.exists():
        hint = ""
        if path.parent.is_dir():
            siblings = [p.name for p in path.parent.iterdir() if p.suffix in {".yaml", ".yml"}]
            close = difflib.get_close_matches(path.name, siblings, n=1, cutoff=0.6)
            if close:
                hint = f" (did you mean {os.fspath(path.parent / close[0])}?)"
        raise fail(f"{what} file not found{hint}")
    if path.is_dir():
        raise fail(f"is a folder, not a {what} file")
    # stat, not open: a FIFO would block an open() for ever, /dev/zero never ends.
    try:
        info = path.stat()
    except OSError as err:
        raise fail(f"cannot read the file: {err.strerror}") from err
    if not stat.S_ISREG(info.st_mode):
        raise fail(f"not a regular file (a device, pipe or socket); give a {what} file")
    if info.st_size > MAX_FILE_BYTES:
        raise fail(
            f"the file is {info.st_size / 1e6:.1f} MB; a {what} file is at most "
            f"{MAX_FILE_BYTES // 1_000_000} MB"
        )
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise fail(f"cannot read the file: {err.strerror}") from err
    if len(raw) > MAX_FILE_BYTES:
        raise fail(f"the file grew past {MAX_FILE_BYTES // 1_000_000} MB while being read")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise fail(
            f"not a text file in UTF-8 (byte 0x{raw[err.start]:02x}); save it as UTF-8 text",
            line,
        ) from err
    try:
        root = yaml.compose(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        if root is not None:
            _check_expansion(root, fail)  # before load(): an alias bomb expands there
        data = yaml.load(text, Loader=_Loader)  # noqa: S506
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        problem = err.problem or "syntax error"
        context = f" {err.context}" if err.context else ""
        where = f" (column {mark.column + 1})" if mark is not None else ""
        raise fail(
            f"invalid YAML: {plain_yaml_problem(problem, err.context)}{where} "
            f"[parser: {problem}{context}]",
            mark.line + 1 if mark else None,
        ) from err
    except yaml.YAMLError as err:
        raise fail(f"invalid YAML: {err}") from err
    except RecursionError:
        raise fail("invalid YAML: nested too deeply") from None
    if root is None or data is None:
        raise fail(f"the file is empty; a {what} file is a list of `key: value` lines")
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        raise fail(
            f"expected `key: value` lines at the top level, got {_kind(data)}",
            root.start_mark.line + 1,
        )
    doc = YamlDocument(path=path, label=label, raw=raw, data=data, root=root)
    duplicates = _duplicate_keys(root, ())
    if duplicates:
        raise error([FileIssue(label, line, field_path(loc), why) for loc, line, why in duplicates])
    return doc


def _check_expansion(root: yaml.Node, fail: Callable[[str, int | None], RigError]) -> None:
    """Refuse a document whose aliases expand to more than ``MAX_EXPANDED_NODES`` nodes
    (a "billion laughs" alias bomb) or refer to themselves. Linear in the composed graph."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise fail("an alias refers to itself (recursive YAML is not allowed)",
                       node.start_mark.line + 1)
        active.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item)
        active.discard(key)
        sizes[key] = total
        if total > MAX_EXPANDED_NODES:
            raise fail(
                f"aliases (*name) expand to more than {MAX_EXPANDED_NODES} values; "
                "write the values out or use fewer aliases",
                node.start_mark.line + 1,
            )
        return total

    size(root)


def _duplicate_keys(node: yaml.Node, loc: Loc) -> list[tuple[Loc, int, str]]:
    found: list[tuple[Loc, int, str]] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key)
            if name in seen:
                found.append(
                    (
                        (*loc, name),
                        key.start_mark.line + 1,
                        f"appears twice (also on line {seen[name]}); remove one of them",
                    )
                )
            else:
                seen[name] = key.start_mark.line + 1
            found.extend(_duplicate_keys(value, (*loc, name)))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found.extend(_duplicate_keys(item, (*loc, i)))
    return found


def validate_model(doc: YamlDocument, model: type[M], error: ErrorFactory) -> M:
    """Validate ``doc.data`` as ``model``; raise ``error`` with every problem, one per line."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as err:
        problems = translate_validation_error(err, model, doc.data)
        raise error([doc.issue(loc, reason) for loc, reason in problems]) from None


# --------------------------------------------------------------------------------------
# pydantic errors -> plain words


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return repr(value)
    return _kind(value)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a group of `key: value` lines"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"a single value ({_show(value)})"


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _find_model(arg)
        if found is not None:
            return found
    return None


def model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The pydantic model class that validates the mapping at ``loc`` (None if not a model)."""
    current: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int):
            continue
        if current is None:
            return None
        info = current.model_fields.get(part)
        if info is None:
            return None
        current = _find_model(info.annotation)
    return current


def _data_loc(loc: Loc, data: Any) -> Loc:
    """Cut pydantic's loc where it stops naming places in the data (union member tags)."""
    out: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(current, dict) and isinstance(part, str):
            if part in current:
                current = current[part]
            elif not last:
                break
            out.append(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
            out.append(part)
        else:
            break
    return tuple(out)


_PATTERNS = {
    r"^[A-Za-z0-9_.\-]+$": "may contain only letters, digits and _ . - (no spaces)",
}
_FIELD_PREFIX = re.compile(r"^([A-Za-z_]\w*)((?:\[\d+\])*):\s+(.*)$", re.DOTALL)


def _expectation(err: Any, loc: Loc) -> str:
    """A noun phrase for what was expected (used to merge errors from union types)."""
    kind = err["type"]
    ctx = err.get("ctx", {})
    if kind in {"float_parsing", "float_type"}:
        return "a number"
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return "a whole number"
    if kind in {"bool_parsing", "bool_type"}:
        return "true or false"
    if kind == "string_type":
        return "text"
    if kind == "literal_error":
        return str(ctx.get("expected", ""))
    if kind == "greater_than":
        return f"greater than {_num(ctx['gt'])}"
    if kind == "greater_than_equal":
        return f"at least {_num(ctx['ge'])}"
    if kind == "less_than":
        return f"less than {_num(ctx['lt'])}"
    if kind == "less_than_equal":
        return f"at most {_num(ctx['le'])}"
    return str(err["msg"])


def _reason(err: Any, loc: Loc, root: type[BaseModel]) -> tuple[Loc, str]:
    kind = err["type"]
    ctx = err.get("ctx", {})
    value = err.get("input")
    got = f", got {_show(value)}"
    name = loc[-1] if loc else ""
    if kind == "missing":
        return loc, "required field is missing"
    if kind == "extra_forbidden":
        parent = model_at(root, loc[:-1])
        fields = sorted(parent.model_fields) if parent is not None else []
        close = difflib.get_close_matches(str(name), fields, n=1, cutoff=0.6)
        if close:
            return loc, f"unknown field '{name}' (did you mean '{close[0]}'?)"
        return loc, f"unknown field '{name}' (valid fields here: {', '.join(fields)})"
    if kind in {"float_parsing", "float_type"}:
        return loc, f"expected a number{got}"
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return loc, f"expected a whole number{got}"
    if kind == "finite_number":
        return loc, f"must be a finite number{got}"
    if kind in {"bool_parsing", "bool_type"}:
        return loc, f"expected true or false{got}"
    if kind == "string_type":
        return loc, f"expected text{got}"
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        return loc, f"must be {_expectation(err, loc)}{got}"
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return loc, "must not be empty"
        return loc, f"must have at least {ctx.get('min_length')} characters{got}"
    if kind == "string_too_long":
        return loc, f"must have at most {ctx.get('max_length')} characters{got}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return loc, f"{_PATTERNS.get(pattern, f'must match the pattern {pattern}')}{got}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        if name == "schema_version" and str(value) == expected:
            return loc, f"must be the number {expected}, without quotes{got}"
        if name == "schema_version":
            return loc, (
                f"unsupported schema_version {_show(value)}; this version of optorig reads "
                f"schema_version {expected}"
            )
        options = re.findall(r"'([^']*)'", expected)
        close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return loc, f"must be one of {expected}{got}{hint}"
    if kind in {"list_type"}:
        return loc, f"expected a list (lines starting with '- ' or [a, b]){got}"
    if kind in {"tuple_type"}:
        return loc, f"expected a pair [x, y]{got}"
    if kind in {"too_short", "too_long"}:
        field_type = str(ctx.get("field_type", ""))
        actual = ctx.get("actual_length")
        if field_type == "Tuple":
            return loc, f"expected a pair [x, y], got {actual} numbers"
        if kind == "too_short":
            return loc, f"needs at least {ctx.get('min_length')} item(s), got {actual}"
        return loc, f"takes at most {ctx.get('max_length')} item(s), got {actual}"
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return loc, f"expected a group of `key: value` lines{got}"
    if kind.startswith("date") or kind.startswith("datetime"):
        return loc, f"expected a date like 2025-03-14{got}"
    if kind in {"value_error", "assertion_error"}:
        message = str(ctx.get("error", err["msg"]))
        match = _FIELD_PREFIX.match(message)
        here = model_at(root, loc)
        if match and here is not None and match.group(1) in here.model_fields:
            indices = tuple(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
            return (*loc, match.group(1), *indices), match.group(3)
        return loc, message
    return loc, f"{err['msg']}{got}"


def translate_validation_error(
    err: ValidationError, root: type[BaseModel], data: Any
) -> list[tuple[Loc, str]]:
    """pydantic's errors -> ``(field loc, plain reason)``, one per problem, in file order."""
    grouped: dict[Loc, list[Any]] = {}
    for item in err.errors(include_url=False):
        loc = _data_loc(tuple(item["loc"]), data)
        grouped.setdefault(loc, []).append(item)
    # A misspelt field is reported once, as unknown with a suggestion, not also as missing.
    suggested: set[Loc] = set()
    for loc, items in grouped.items():
        for item in items:
            if item["type"] == "extra_forbidden" and loc:
                parent = model_at(root, loc[:-1])
                fields = list(parent.model_fields) if parent is not None else []
                for close in difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.6):
                    suggested.add((*loc[:-1], close))
    problems: list[tuple[Loc, str]] = []
    for loc, items in grouped.items():
        if loc in suggested and all(item["type"] == "missing" for item in items):
            continue
        if len(items) > 1 and all(tuple(i["loc"]) != loc for i in items):
            # One value failed every member of a union (e.g. 'auto' or a whole number).
            options: list[str] = []
            for item in items:
                phrase = _expectation(item, loc)
                if phrase not in options:
                    options.append(phrase)
            problems.append((loc, f"expected {' or '.join(options)}, got {_show(items[0]['input'])}"))
            continue
        for item in items:
            if item["type"] == "missing" and isinstance(item["loc"][-1], int):
                # A fixed-length pair such as a corner [x, y] with a number missing.
                problems.append((loc, "expected a pair [x, y], got fewer numbers"))
                continue
            problems.append(_reason(item, loc, root))
    return problems


#: PyYAML's messages for the usual hand-editing slips, in plain words.
_PLAIN_YAML = (
    ("mapping values are not allowed", "this line is indented differently from the lines "
     "above it (or a value contains ': ', which then needs quotes)"),
    ("expected <block end>", "the indentation does not line up: this line is indented "
     "less or more than the other keys of its block"),
    ("found character '\\t'", "a tab character: indent with spaces only"),
    ("found character '\t'", "a tab character: indent with spaces only"),
    ("could not find expected ':'", "a line that is not 'key: value' (a missing colon?)"),
    ("found undefined alias", "an '*' that is not a YAML alias: put the value in quotes"),
    ("found unexpected end of stream", "a quote or bracket is opened and never closed"),
)


def plain_yaml_problem(problem: str, context: str | None = None) -> str:
    """A YAML parser message in the technician's words (the message itself if unknown)."""
    text = f"{problem} {context or ''}"
    for needle, plain in _PLAIN_YAML:
        if needle in text:
            return plain
    return problem
