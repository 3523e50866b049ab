"""Sphinx configuration of the airflow-provider-kaizala documentation.

Build with ``make docs`` or ``sphinx-build -W -b html docs docs/_build/html`` (warnings are errors).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent

# autodoc imports the provider from the checkout, not from whatever is installed.
sys.path.insert(0, str(REPO))

# Importing the modules imports Airflow: keep it away from ~/airflow (no config file, no database
# written there) and quiet. An AIRFLOW_HOME already set (CI, a developer's shell) is respected.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="kaizala-docs-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from airflow_provider_kaizala import __version__  # noqa: E402
from airflow_provider_kaizala.hooks.policy import ENDPOINTS  # noqa: E402


def write_endpoint_table() -> None:
    """Generate the endpoint table of hooks.rst from ``ENDPOINTS`` (docs/_generated, not committed)."""
    rows = [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - Name",
        "     - Method",
        "     - Path",
        "     - Repeatable",
        "     - Pagination",
    ]
    for endpoint in ENDPOINTS.values():
        repeatable = "yes" if endpoint.repeatable else "**no**"
        if endpoint.gone_means_done:
            repeatable += " (404 on a repeat = done)"
        rows += [
            f"   * - ``{endpoint.name}``",
            f"     - {endpoint.method}",
            f"     - ``{endpoint.path}``",
            f"     - {repeatable}",
            f"     - {endpoint.pagination.value}",
        ]
    target = Path(__file__).parent / "_generated" / "endpoints.rst"
    target.parent.mkdir(exist_ok=True)
    text = "\n".join(rows) + "\n"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


write_endpoint_table()

# -- Project ----------------------------------------------------------------------------------------

project = "airflow-provider-kaizala"
author = "airflow-provider-kaizala contributors"
copyright = "2026, airflow-provider-kaizala contributors"
version = __version__
release = __version__

# -- General ----------------------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"

# emulator.md is pulled into emulator.rst with ``.. include::``; it is not a page of its own.
exclude_patterns = ["_build", "_generated", "emulator.md", "Thumbs.db", ".DS_Store"]

nitpicky = False
default_role = "literal"
highlight_language = "python3"

# -- autodoc ----------------------------------------------------------------------------------------

autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_member_order = "bysource"
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
}

# -- MyST -------------------------------------------------------------------------------------------

myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

# -- HTML -------------------------------------------------------------------------------------------

html_theme = "alabaster"
html_title = f"airflow-provider-kaizala {release}"
html_theme_options = {
    "description": "Apache Airflow provider for the Microsoft Kaizala connector REST API",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "250px",
}
html_static_path: list[str] = []
