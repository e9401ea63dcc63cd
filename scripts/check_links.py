"""Check every link of README.md and docs/**/*.md without the network.

A relative link must name a file or folder of the repository, and its `#anchor` a heading
of the target page, computed as the docs site computes it (Python-Markdown's toc with the
slugify of mkdocs.yml, which keeps Chinese like the repository host does). An http(s)
link is checked for its form only: the tests never reach outside the machine.

    python scripts/check_links.py [FILE.md ...]     (default: README.md and docs/)

Prints one line per broken link (`file:line: target: reason`) and exits 1 if any."""

import re
import sys
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import markdown
from pymdownx.slugs import slugify

ROOT = Path(__file__).resolve().parents[1]
_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+).*?\1")
# [text](target) and ![alt](target); the target ends at whitespace or the closing paren
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
_SLUGIFY = slugify(case="lower")


def links(text):
    """(line number, target) of every link outside code."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        line = _CODE_SPAN.sub("", line)
        for match in _INLINE.finditer(line):
            yield number, match.group(1)
        reference = _REFERENCE.match(line)
        if reference:
            yield number, reference.group(1)


@cache
def anchors(path):
    """The ids the docs site gives the headings of one Markdown file."""
    md = markdown.Markdown(extensions=["toc"], extension_configs={"toc": {"slugify": _SLUGIFY}})
    md.convert(path.read_text(encoding="utf-8"))
    found = set()

    def walk(tokens):
        for token in tokens:
            found.add(token["id"])
            walk(token["children"])

    walk(md.toc_tokens)
    return frozenset(found)


def problem(source, target, root=ROOT):
    """Why a link of `source` (a file under `root`) is broken, or None."""
    if not target:
        return "empty link"
    parts = urlsplit(target)
    if parts.scheme in ("http", "https"):
        if not parts.netloc or " " in target:
            return "malformed URL"
        return None
    if parts.scheme == "mailto":
        return None if "@" in parts.path else "malformed mailto"
    if parts.scheme or parts.netloc or target.startswith("/"):
        return "not a relative link or an http(s) URL"
    path = unquote(parts.path)
    dest = (source.parent / path).resolve() if path else source
    if root not in dest.parents and dest != root:
        return "outside the repository"
    if not dest.exists():
        return "no such file"
    if parts.fragment:
        if dest.suffix != ".md" or dest.is_dir():
            return "anchor on a file that is not Markdown"
        if unquote(parts.fragment) not in anchors(dest):
            return "no heading with this anchor in %s" % dest.relative_to(root).as_posix()
    return None


def check(paths, root=ROOT):
    """Broken links of the files `paths` (under `root`) as `file:line: target: reason`."""
    broken = []
    for path in paths:
        for number, target in links(path.read_text(encoding="utf-8")):
            reason = problem(path, target, root)
            if reason:
                name = path.resolve().relative_to(root).as_posix()
                broken.append("%s:%d: %s: %s" % (name, number, target, reason))
    return broken


def main(argv):
    paths = [Path(a).resolve() for a in argv] or [ROOT / "README.md"] + sorted(
        (ROOT / "docs").rglob("*.md")
    )
    broken = check(paths)
    for line in broken:
        print(line)
    print("links: %d files, %d broken" % (len(paths), len(broken)))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
