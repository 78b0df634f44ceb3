"""A renderer for the subset of Go's text/template that ftgui's Ollama templates use:
text, {{ .Field }}, {{ if .Field }}, {{ if eq .Field "x" }} / {{ else if ... }} /
{{ else }}, {{ range .Messages }}, {{ end }}, and the {{- / -}} whitespace trims, with Go's
semantics (a trim removes all adjacent white space; inside range, fields are the item's).
Used by the tests to render a Modelfile's TEMPLATE as Ollama would."""

import re

TOKEN = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


def _lex(src: str) -> list:
    out, pos = [], 0
    for m in TOKEN.finditer(src):
        text = src[pos:m.start()]
        if m.group(1):
            text = text.rstrip()
        if out and out[-1][0] == "trim_next":
            out.pop()
            text = text.lstrip()
        out.append(("text", text))
        out.append(("action", m.group(2).strip()))
        if m.group(3):
            out.append(("trim_next", ""))
        pos = m.end()
    text = src[pos:]
    if out and out[-1][0] == "trim_next":
        out.pop()
        text = text.lstrip()
    out.append(("text", text))
    return out


def _parse(tokens, i=0, stop=("end",)):
    nodes = []
    while i < len(tokens):
        kind, val = tokens[i]
        if kind == "text":
            nodes.append(("text", val))
            i += 1
            continue
        word = val.split()[0]
        if word in stop or val.startswith("else"):
            return nodes, i
        if word == "if":
            branches, i = _parse_if(tokens, i)
            nodes.append(("if", branches))
        elif word == "range":
            body, i = _parse(tokens, i + 1)
            nodes.append(("range", val.split()[1], body))
            i += 1
        elif val.startswith("."):
            nodes.append(("field", val))
            i += 1
        else:
            raise ValueError(f"unsupported action {{{{ {val} }}}}")
    return nodes, i


def _parse_if(tokens, i):
    branches = []
    cond = tokens[i][1][len("if"):].strip()
    while True:
        body, i = _parse(tokens, i + 1)
        branches.append((cond, body))
        val = tokens[i][1]
        if val == "end":
            return branches, i + 1
        if val.startswith("else if"):
            cond = val[len("else if"):].strip()
        elif val == "else":
            cond = None
        else:
            raise ValueError(val)


def _value(expr: str, scope: dict):
    if expr.startswith('"'):
        return expr.strip('"')
    return scope.get(expr.lstrip("."), "")


def _true(cond, scope) -> bool:
    if cond is None:
        return True
    parts = re.findall(r'"[^"]*"|\S+', cond)
    if parts[0] == "eq":
        return _value(parts[1], scope) == _value(parts[2], scope)
    return bool(_value(parts[0], scope))


def _run(nodes, scope, root) -> str:
    out = []
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "field":
            out.append(str(_value(node[1], scope)))
        elif node[0] == "if":
            for cond, body in node[1]:
                if _true(cond, scope):
                    out.append(_run(body, scope, root))
                    break
        elif node[0] == "range":
            for item in root[node[1].lstrip(".")]:
                out.append(_run(node[2], {**item, "_root": root}, root))
    return "".join(out)


def render(template: str, system: str, messages: list[dict]) -> str:
    """As Ollama executes a template: .System collects the system messages, .Messages the
    conversation (system messages included, as Ollama's collate leaves them)."""
    systems = [m["content"] for m in messages if m["role"] == "system"]
    root = {"System": "\n\n".join(systems) or system,
            "Messages": [{"Role": m["role"], "Content": m["content"]} for m in messages]}
    nodes, _ = _parse(_lex(template))
    return _run(nodes, root, root)
