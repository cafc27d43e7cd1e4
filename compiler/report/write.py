"""report.md and report.html from one list of blocks, so the two say the
same: ("h1"|"h2"|"p", text), ("table", header, rows), ("img", alt, png
path), ("pre", text). The HTML embeds every PNG (base64): one file."""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path


def to_markdown(blocks: list, out_dir: Path) -> str:
    parts = []
    for kind, *rest in blocks:
        if kind == "h1":
            parts.append(f"# {rest[0]}")
        elif kind == "h2":
            parts.append(f"## {rest[0]}")
        elif kind == "p":
            parts.append(rest[0])
        elif kind == "pre":
            parts.append("```\n" + rest[0].rstrip() + "\n```")
        elif kind == "img":
            parts.append(f"![{rest[0]}]({Path(rest[1]).relative_to(out_dir).as_posix()})")
        elif kind == "table":
            header, rows = rest
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _inline(text: str) -> str:
    """The markdown the paragraphs use: `code` only."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def to_html(blocks: list, title: str) -> str:
    body = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{html.escape(rest[0])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_inline(rest[0])}</p>")
        elif kind == "pre":
            body.append(f"<pre>{html.escape(rest[0])}</pre>")
        elif kind == "img":
            data = base64.b64encode(Path(rest[1]).read_bytes()).decode("ascii")
            body.append(f'<img alt="{html.escape(rest[0])}" src="data:image/png;base64,{data}">')
        elif kind == "table":
            header, rows = rest
            head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            trs = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>")
    style = ("body{font-family:sans-serif;max-width:70em;margin:auto;padding:1em}"
             "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #bbb;padding:2px 6px}"
             "td{text-align:right}td:first-child,td:last-child{text-align:left}img{max-width:100%}"
             "pre{background:#f4f4f4;padding:.5em;overflow-x:auto}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write(blocks: list, out_dir: Path, title: str) -> tuple[Path, Path]:
    md, page = out_dir / "report.md", out_dir / "report.html"
    md.write_text(to_markdown(blocks, out_dir))
    page.write_text(to_html(blocks, title))
    return md, page
