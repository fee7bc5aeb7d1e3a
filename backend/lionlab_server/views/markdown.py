"""Markdown from users (run notes) as HTML that carries no HTML of theirs.

markdown-it-py with raw HTML off escapes every `<` of the text, so the output is escaped text
plus markdown's own structure; links (and autolinks) keep only http(s) targets, and images are
off (a note cannot make every reader's browser fetch a URL).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from markdown_it import MarkdownIt


def _http_link(url: str) -> bool:
    return urlsplit(url.strip()).scheme.lower() in ("http", "https")


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False})
    md.enable(["table", "strikethrough"]).disable("image")
    md.validateLink = _http_link  # instead of markdown-it's list of refused schemes

    def link_open(renderer, tokens, idx, options, env):
        tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
        tokens[idx].attrSet("target", "_blank")
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md


_MD = _parser()


def render_markdown(text: str) -> str:
    """Safe HTML for a note (see the module docstring)."""
    return _MD.render(text)


def excerpt(text: str, limit: int = 120) -> str:
    """A note's first non-blank line as plain text, without its block marker (#, -, >)."""
    for line in text.splitlines():
        line = line.strip().lstrip("#>*-+ ").strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return ""
