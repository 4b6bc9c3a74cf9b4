"""`view --export DIR`: the page as static files, the network and its history baked into data.js,
so that it opens from a file:// URL with no server (and no token: nothing there can change)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from linctl.errors import LinctlError
from linctl.view import pagedata

# the page's own files, in static/: its scripts in the order they load (each part uses the ones before it)
SCRIPTS = ("values.js", "panels.js", "view.js")
STATIC = {**{name: "text/javascript" for name in SCRIPTS}, "view.css": "text/css"}
FILES = ("index.html", "data.js", *(f"static/{name}" for name in STATIC))


def static_text(name: str) -> str:
    return resources.files("linctl.view").joinpath("static").joinpath(name).read_text(encoding="utf-8")


def page_html(query: str, head: str) -> str:
    """index.html with the scripts' query (the token, or nothing in an export) and the data's script."""
    scripts = "\n".join(f'<script src="static/{name}{query}"></script>' for name in SCRIPTS)
    page = static_text("index.html").replace("{{query}}", query)
    return page.replace("{{head}}", head).replace("{{scripts}}", scripts)


def export_page(path: Path, folder: str, samples: str | None = None, targets: int | None = None) -> list[str]:
    """Write the page's files into `folder` (made if missing); returns their paths, index.html first."""
    data = pagedata.baked(path, samples, targets)
    target = Path(folder)
    shown = folder if len(folder) <= 80 else folder[:60] + f"… ({len(folder)} characters)"
    texts = {
        "index.html": page_html("", '<script src="data.js"></script>'),
        **{f"static/{name}": static_text(name) for name in STATIC},
        "data.js": "window.LINCTL_DATA = " + pagedata.encode(data).decode() + ";\n",
    }
    written = []
    try:
        if target.exists() and not target.is_dir():
            raise LinctlError(f"--export {shown}: that is a file; give a folder (it is made if missing)")
        (target / "static").mkdir(parents=True, exist_ok=True)
        for name in FILES:
            temporary = (target / name).with_name(f".{Path(name).name}.tmp")
            temporary.write_text(texts[name], encoding="utf-8")
            os.replace(temporary, target / name)
            written.append(str(target / name))
    except OSError as exc:
        raise LinctlError(
            f"--export {folder}: cannot write there ({exc.strerror or exc}); pass another folder"
        ) from None
    return written
