"""The server's data folders: migrations and the dashboard's templates and static files.

The wheel carries them inside this package (the build maps the repository's top-level
alembic/ to lionlab_server/migrations and frontend/ to lionlab_server/frontend, see
pyproject.toml). An editable install runs from the checkout, where they stay at the root.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

# name inside the installed package -> the folder at the checkout's root
_CHECKOUT_NAMES = {"migrations": "alembic", "frontend": "frontend"}


def folder(name: str) -> Path:
    """The packaged folder `name` ("migrations" or "frontend"), else the checkout's."""
    packaged = Path(str(files("lionlab_server") / name))
    if packaged.is_dir():
        return packaged
    # backend/lionlab_server/ -> the checkout's root
    checkout = Path(__file__).resolve().parents[2] / _CHECKOUT_NAMES[name]
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"LionLab's {name} folder is missing: neither {packaged} (an installed wheel) nor "
        f"{checkout} (a checkout) exists; reinstall LionLab"
    )
