"""mkdocs hook: render the Sphinx roles in docstrings (:mod:`~parity.core.spec`, :class:`X`) as code,
linked to the API reference where the target is documented there.

mkdocstrings renders docstrings as Markdown, so a role arrives as ``:mod:<code>~a.b</code>``. Names
of the top-level API (``parity.KerasRNN``) are documented under their defining module; the table
``_API`` in ``parity/__init__.py`` says which (read with ``ast``, so nothing is imported).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

_ROLE = re.compile(r":(?:mod|class|func|meth|attr|data|exc|obj):<code>(~?)([\w.]+)</code>")


def _public_api() -> dict[str, str]:
    tree = ast.parse((Path(__file__).resolve().parents[2] / "parity" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(getattr(t, "id", None) == "_API" for t in targets):
                return ast.literal_eval(node.value)
    raise LookupError("parity/__init__.py defines no _API table")


_DEFINED_IN = _public_api()


def _replace(match: re.Match) -> str:
    short, target = match.groups()
    title = f"<code>{target.rsplit('.', 1)[-1] if short else target}</code>"
    head, _, name = target.rpartition(".")
    if head == "parity" and name in _DEFINED_IN:
        target = f"{_DEFINED_IN[name]}.{name}"
    if not target.startswith("parity"):
        return title
    return f'<autoref identifier="{target}" optional>{title}</autoref>'


def on_page_content(html: str, **kwargs) -> str:
    return _ROLE.sub(_replace, html)
