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
exclude_patterns = ["_build", "emulator.md", "Thumbs.db", ".DS_Store"]

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
