"""MkDocs hook: the handbook's reference pages, generated from the code at every build.

`docs/reference/cli.md` gets the `tritontts` command's options from its argparse parsers
(`tritontts.cli.build_parser` and each `tritontts.commands.*` module's `configure`), and
`docs/reference/http.md` gets the gateway's routes from FastAPI's OpenAPI document
(`tritontts.gateway.app.create_app`, with the jobs routes mounted). Each page holds a marker
line where the generated text goes, so the prose around it stays hand-written and the
reference cannot drift from the code. A missing marker fails the build.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from typing import Any

CLI_MARKER = "<!-- generated: cli -->"
HTTP_MARKER = "<!-- generated: http -->"


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    generators: dict[str, tuple[str, Callable[[], str]]] = {
        "reference/cli.md": (CLI_MARKER, cli_reference),
        "reference/http.md": (HTTP_MARKER, http_reference),
    }
    if page.file.src_uri not in generators:
        return markdown
    marker, generate = generators[page.file.src_uri]
    if marker not in markdown:
        raise ValueError(f"{page.file.src_uri}: the marker line {marker} is missing")
    return markdown.replace(marker, generate())


# -- the command line ------------------------------------------------------------------------


def cli_reference() -> str:
    from tritontts.cli import COMMANDS, build_parser

    top = build_parser([])
    lines = ["```text", top.format_help().rstrip(), "```", ""]
    for name in COMMANDS:
        parser = _subparser(build_parser([name]), name)
        lines += [f"## `tritontts {name}`", "", _escape(parser.description or ""), "",
                  "```text", parser.format_usage().strip(), "```", ""]
        lines += _arguments_table(parser)
    return "\n".join(lines)


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:  # argparse keeps subcommands in a private action
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise ValueError(f"tritontts has no subcommand {name}")


def _arguments_table(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| argument | value | default | what it does |", "| --- | --- | --- | --- |"]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        names = ", ".join(f"`{option}`" for option in action.option_strings) or f"`{action.dest}`"
        help_text = parser._get_formatter()._expand_help(action) if action.help else ""
        rows.append(f"| {names} | {_value(action)} | {_default(action)} | {_cell(help_text)} |")
    return [*rows, ""]


def _value(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if action.choices:
        return " \\| ".join(f"`{choice}`" for choice in action.choices)
    metavar = action.metavar or (action.dest.upper() if action.option_strings else action.dest)
    if isinstance(metavar, tuple):
        metavar = " ".join(metavar)
    suffix = {"+": " ...", "*": " ...", "?": " (optional)"}.get(str(action.nargs), "")
    return f"`{metavar}`{suffix}"


def _default(action: argparse.Action) -> str:
    default = action.default
    if action.nargs == 0 or default in (None, argparse.SUPPRESS):
        return ""
    if isinstance(default, list | tuple):
        return " ".join(f"`{value}`" for value in default)
    return f"`{default}`"


# -- the HTTP gateway ------------------------------------------------------------------------


def http_reference() -> str:
    from tritontts.gateway.app import create_app
    from tritontts.gateway.settings import GatewaySettings
    from tritontts.jobs.settings import JobSettings

    # Building the app opens no connection (Redis is reached when a request comes), so the
    # jobs routes can be mounted with their default settings.
    document = create_app(GatewaySettings(jobs=JobSettings())).openapi()
    lines: list[str] = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            lines += _operation(document, path, method, operation)
    return "\n".join(lines)


def _operation(document: dict[str, Any], path: str, method: str,
               operation: dict[str, Any]) -> list[str]:
    lines = [f"## `{method.upper()} {path}`", ""]
    if operation.get("description"):
        lines += [_escape(" ".join(operation["description"].split())), ""]
    parameters = operation.get("parameters", [])
    if parameters:
        lines += ["| parameter | in | type | required |", "| --- | --- | --- | --- |"]
        lines += [f"| `{p['name']}` | {p['in']} | {_type(document, p['schema'])} | "
                  f"{'yes' if p.get('required') else 'no'} |" for p in parameters]
        lines.append("")
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        lines += ["Request body (`application/json`):", "",
                  "| field | type | required | default | limits |",
                  "| --- | --- | --- | --- | --- |"]
        lines += list(_fields(document, body["schema"]))
        lines.append("")
        if body["schema"].get("additionalProperties") is False:
            lines += ["Unknown fields are refused.", ""]
    responses = ", ".join(f"`{code}` {_cell(answer.get('description', ''))}"
                          for code, answer in operation.get("responses", {}).items()
                          if code != "422")  # the gateway answers bad input with 400 instead
    lines += [f"Responses: {responses}.", ""]
    return lines


def _fields(document: dict[str, Any], schema: dict[str, Any]) -> Iterator[str]:
    schema = _resolve(document, schema)
    required = set(schema.get("required", ()))
    for name, field in schema.get("properties", {}).items():
        default = f"`{json.dumps(field['default'])}`" if "default" in field else ""
        yield (f"| `{name}` | {_type(document, field)} | {'yes' if name in required else 'no'} "
               f"| {default} | {_limits(field)} |")


def _type(document: dict[str, Any], schema: dict[str, Any]) -> str:
    schema = _resolve(document, schema)
    if "anyOf" in schema:
        return " or ".join(_type(document, option) for option in schema["anyOf"])
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(value)}`" for value in schema["enum"])
    return schema.get("type", "any")


def _limits(field: dict[str, Any]) -> str:
    words = {"minLength": "length ≥ {}", "maxLength": "length ≤ {}",
             "minimum": "≥ {}", "maximum": "≤ {}"}
    found = [field, *field.get("anyOf", ())]
    return ", ".join(template.format(part[key]) for part in found
                     for key, template in words.items() if key in part)


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if not reference:
        return schema
    target: Any = document
    for step in reference.removeprefix("#/").split("/"):
        target = target[step]
    return target


# -- Markdown --------------------------------------------------------------------------------


def _escape(text: str) -> str:
    """Help text as Markdown text: outside code spans, `<...>` placeholders would be read as
    HTML and `*` as emphasis (inside a code span both are shown as written)."""
    pieces = text.split("`")
    return "`".join(piece if inside % 2 else
                    piece.replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*")
                    for inside, piece in enumerate(pieces))


def _cell(text: str) -> str:
    """One table cell: a pipe outside code spans is escaped (inside one, the table extension
    already keeps it in the cell)."""
    pieces = _escape(" ".join(text.split())).split("`")
    return "`".join(piece if inside % 2 else piece.replace("|", "\\|")
                    for inside, piece in enumerate(pieces))
