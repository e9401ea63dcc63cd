"""MkDocs hooks (mkdocs.yml, `hooks:`): the site's home page is README.md.

The README is the repository's front door and links to the pages as `docs/NAME.md`, the
path that works where the repository is read. It is not copied into docs/, so its text has
one home; at build time it becomes `index.md` with the `docs/` prefix taken off its links.
Any other relative link in the README would point outside the site, and `--strict` fails
the build on it."""

import re
from pathlib import Path

from mkdocs.structure.files import File, Files

README = Path(__file__).resolve().parents[1] / "README.md"
_DOCS_PREFIX = re.compile(r"(\]\()docs/")


def readme_as_home(text):
    """The README's Markdown with its `docs/...` links made relative to docs/."""
    return _DOCS_PREFIX.sub(r"\1", text)


def on_files(files: Files, config) -> Files:
    home = readme_as_home(README.read_text(encoding="utf-8"))
    files.append(File.generated(config, "index.md", content=home))
    return files
