"""The docs' link check (scripts/check_links.py) and the site's home page hook
(scripts/docs_hooks.py): broken links and anchors are found, working ones pass, and the
repository's own README and docs have none broken."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("markdown", reason='the docs tools are not installed: pip install ".[docs]"')
pytest.importorskip("pymdownx", reason='the docs tools are not installed: pip install ".[docs]"')

ROOT = Path(__file__).resolve().parents[1]


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / ("%s.py" % name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_links = _script("check_links")


def _tree(tmp_path, files):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path.resolve()


def test_the_repository_readme_and_docs_have_no_broken_link():
    paths = [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))
    assert check_links.check(paths) == []


def test_working_links_pass_and_chinese_anchors_resolve(tmp_path):
    root = _tree(
        tmp_path,
        {
            "README.md": "[页](docs/a.md#签名上传jq2qmt-sig-v1) [本页](#首页) [站](https://example.com/x)\n\n# 首页\n",
            "docs/a.md": "# A\n\n## 签名上传（JQ2QMT-SIG-V1）\n\n![图](shot.png) [回](../README.md)\n",
            "docs/shot.png": "",
        },
    )
    assert check_links.check([root / "README.md", root / "docs/a.md"], root) == []


def test_missing_files_anchors_and_malformed_urls_are_reported(tmp_path):
    root = _tree(
        tmp_path,
        {
            "README.md": (
                "[a](docs/nope.md) [b](docs/a.md#nope) [c](https:///x) [d](ftp://host/x)\n"
                "[e](../outside.md) [f](/abs.md)\n"
            ),
            "docs/a.md": "# A\n",
        },
    )
    broken = check_links.check([root / "README.md"], root)
    assert broken == [
        "README.md:1: docs/nope.md: no such file",
        "README.md:1: docs/a.md#nope: no heading with this anchor in docs/a.md",
        "README.md:1: https:///x: malformed URL",
        "README.md:1: ftp://host/x: not a relative link or an http(s) URL",
        "README.md:2: ../outside.md: outside the repository",
        "README.md:2: /abs.md: not a relative link or an http(s) URL",
    ]


def test_links_inside_code_are_not_links(tmp_path):
    root = _tree(
        tmp_path,
        {"README.md": "`[x](nope.md)`\n\n```\n[y](nope.md)\n```\n\n[z](gone.md)\n"},
    )
    assert check_links.check([root / "README.md"], root) == ["README.md:7: gone.md: no such file"]


def test_the_site_home_page_is_the_readme_with_docs_links_made_relative():
    pytest.importorskip("mkdocs", reason='the docs tools are not installed: pip install ".[docs]"')
    hooks = _script("docs_hooks")
    home = hooks.readme_as_home("[API](docs/api.md#认证) ![s](docs/screenshots/a.png) `docs/x`")
    assert home == "[API](api.md#认证) ![s](screenshots/a.png) `docs/x`"
