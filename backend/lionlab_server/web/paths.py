"""Where the dashboard's files live: templates, static modules, and plotly.js."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import plotly
from fastapi.templating import Jinja2Templates

from lionlab_server import resources

FRONTEND_DIR = resources.folder("frontend")
STATIC_DIR = FRONTEND_DIR / "static"
TEMPLATES_DIR = FRONTEND_DIR / "templates"

# plotly.js ships inside the Python plotly package: the dashboard needs no CDN.
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PLOTLY_URL = f"/vendor/plotly-{version('plotly')}.min.js"  # versioned: cached for good

templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.globals["plotly_url"] = PLOTLY_URL
templates.env.globals["asset_version"] = version("lionlab")
