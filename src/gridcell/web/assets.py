"""Builds the dashboard's vendored browser assets offline-reproducibly: `npm ci` of the pinned lockfile in
`web/assets/` (Leaflet for the maps, uPlot for the charts, Swagger UI and ReDoc for the API docs, all from the npm
registry), then a copy of the files the pages load into `web/static/vendor/`: nothing is fetched from a CDN.

Run by `make assets` (and so by `make run` / `make test`): `python -m gridcell.web.assets`. Idempotent: does
nothing when the vendored copy matches the lockfile.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "assets"
VENDOR = HERE / "static" / "vendor"
STAMP = VENDOR / ".lock-sha256"
# package → (file in the package, name under vendor/<package>/) for every file the pages load
FILES: dict[str, tuple[tuple[str, str], ...]] = {
    "leaflet": tuple((f"dist/{f}", f) for f in ("leaflet.js", "leaflet.css", "images/layers.png",
                                                 "images/layers-2x.png", "images/marker-icon.png",
                                                 "images/marker-icon-2x.png", "images/marker-shadow.png")),
    "uplot": (("dist/uPlot.iife.min.js", "uPlot.iife.min.js"), ("dist/uPlot.min.css", "uPlot.min.css")),
    "swagger-ui-dist": (("swagger-ui-bundle.js", "swagger-ui-bundle.js"), ("swagger-ui.css", "swagger-ui.css")),
    "redoc": (("bundles/redoc.standalone.js", "redoc.standalone.js"),),
}


def _lock_hash() -> str:
    return hashlib.sha256((SOURCE / "package-lock.json").read_bytes()).hexdigest()


def built() -> bool:
    return STAMP.is_file() and STAMP.read_text().strip() == _lock_hash() and all(
        (VENDOR / pkg / dest).is_file() for pkg, files in FILES.items() for _, dest in files)


def build(*, force: bool = False) -> Path:
    """Install the pinned packages with `npm ci` and copy their dist files; returns the vendor directory."""
    if built() and not force:
        return VENDOR
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to build the dashboard assets (apt-get install nodejs npm)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=SOURCE, check=True, timeout=600,
                   stdout=subprocess.DEVNULL)
    for pkg, files in FILES.items():
        dest = VENDOR / pkg
        if dest.exists():
            shutil.rmtree(dest)
        for source, name in files:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(SOURCE / "node_modules" / pkg / source, dest / name)
    STAMP.write_text(_lock_hash() + "\n")
    return VENDOR


if __name__ == "__main__":
    try:
        print(build(force="--force" in sys.argv))
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
