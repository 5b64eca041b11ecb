"""Great Expectations Data Docs that work offline.

GX 1.24 writes pages that load bootstrap, bootstrap-table, jQuery, vega and font-awesome
from public CDNs; on a machine without internet (the usual home of data that needs a
synthetic stand-in) they open unstyled, with an empty list of validation results. So the
same files, from the npm packages of the same versions, are fetched once at install time
(`python -m pipeline.validation.offline_docs`, run by `make install`; each tarball checked
against the registry's sha512), copied into the site's `static/vendor/`, and every page's
links are rewritten to them after each docs build.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import re
import shutil
import sys
import tarfile
import urllib.request
from pathlib import Path

from pipeline.publish import write_text_atomic

log = logging.getLogger(__name__)

VENDOR = Path(__file__).resolve().parent / "_vendor"  # git-ignored; filled at install time
REGISTRY = "https://registry.npmjs.org"
# The CDN address GX writes -> (npm package, version, file in the package). A major-version
# address (vega@5) is pinned to the release of that major the CDN served when this was made.
ASSETS: dict[str, tuple[str, str, str]] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css":
        ("bootstrap", "4.3.1", "dist/css/bootstrap.min.css"),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js":
        ("bootstrap", "4.3.1", "dist/js/bootstrap.min.js"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        ("bootstrap-table", "1.19.1", "dist/bootstrap-table.min.css"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        ("bootstrap-table", "1.19.1", "dist/bootstrap-table.min.js"),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css":
        ("bootstrap-table", "1.19.0",
         "dist/extensions/filter-control/bootstrap-table-filter-control.min.css"),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css":
        ("bootstrap-table", "1.19.0",
         "dist/extensions/filter-control/bootstrap-table-filter-control.css"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js":
        ("bootstrap-table", "1.19.1",
         "dist/extensions/filter-control/bootstrap-table-filter-control.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css":
        ("bootstrap-datepicker", "1.9.0", "dist/css/bootstrap-datepicker.min.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js":
        ("bootstrap-datepicker", "1.9.0", "dist/js/bootstrap-datepicker.min.js"),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css":
        ("@forevolve/bootstrap-dark", "1.1.0", "dist/css/bootstrap-prefers-dark.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        ("@fortawesome/fontawesome-free", "6.6.0", "css/all.min.css"),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery", "3.7.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js":
        ("popper.js", "1.12.9", "dist/umd/popper.min.js"),
    "https://cdn.jsdelivr.net/npm/vega@5": ("vega", "5.33.1", "build/vega.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": ("vega-lite", "5.23.0", "build/vega-lite.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": ("vega-embed", "6.29.0",
                                                 "build/vega-embed.min.js"),
}
# Folders a vendored file loads relative to itself (font-awesome's CSS: ../webfonts/).
FOLDERS = {("@fortawesome/fontawesome-free", "6.6.0"): ("webfonts/",)}
# GX's logos on S3 -> the copy GX itself puts in the site.
LOGO = re.compile(r"https://great-expectations-web-assets\.s3[^\"')\s]*")
LOCAL_LOGO = "static/images/logo-long.png"
# Subresource-integrity hashes name the CDN's bytes; the local copy is checked at fetch.
INTEGRITY = re.compile(r'\s(?:integrity="[^"]*"|crossorigin="[^"]*")')


def package_dir(package: str, version: str) -> str:
    return f"{package}@{version}"


def fetch(vendor: Path = VENDOR) -> Path:
    """Download each package's tarball once, check its sha512, keep the files GX needs."""
    wanted: dict[tuple[str, str], list[str]] = {}
    for package, version, path in ASSETS.values():
        wanted.setdefault((package, version), []).append(path)
    for (package, version), paths in wanted.items():
        target = vendor / package_dir(package, version)
        keep = [*paths, *FOLDERS.get((package, version), ())]
        if all((target / p).exists() for p in keep):
            continue
        with urllib.request.urlopen(f"{REGISTRY}/{package}/{version}", timeout=60) as reply:
            dist = json.load(reply)["dist"]
        with urllib.request.urlopen(dist["tarball"], timeout=120) as reply:
            data = reply.read()
        _check_integrity(data, dist["integrity"], f"{package}@{version}")
        _extract(data, keep, target)
    return vendor


def _check_integrity(data: bytes, integrity: str, what: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise RuntimeError(f"{what}: the downloaded tarball does not match the registry's "
                           f"{algorithm}; not installed")


def _extract(data: bytes, keep: list[str], target: Path) -> None:
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            name = member.name.split("/", 1)[-1]  # npm tarballs hold one top folder
            if member.isfile() and any(name == k or (k.endswith("/") and name.startswith(k))
                                       for k in keep):
                out = staging / name
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(archive.extractfile(member).read())
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, target)


def localise(site: Path, vendor: Path = VENDOR) -> int:
    """Copy the vendored files into `site/static/vendor` and point every page of the site
    at them; the number of pages rewritten. Without vendored files (an install that skipped
    the fetch) the pages keep their CDN links, with one warning."""
    site = Path(site)
    if not site.is_dir():
        return 0
    missing = [url for url, (p, v, f) in ASSETS.items()
               if not (vendor / package_dir(p, v) / f).exists()]
    if missing:
        log.warning("Data Docs keep their CDN links (they need internet to display): the "
                    "offline copies are not installed; run `python -m "
                    "pipeline.validation.offline_docs` (make install does)")
        return 0
    local = site / "static" / "vendor"
    if any(not (local / package_dir(p, v) / f).exists() for p, v, f in ASSETS.values()):
        shutil.copytree(vendor, local, dirs_exist_ok=True)
    rewritten = 0
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if not any(url in text for url in ASSETS) and not LOGO.search(text):
            continue
        write_text_atomic(page, _rewrite(text, page, site))
        rewritten += 1
    return rewritten


def _rewrite(text: str, page: Path, site: Path) -> str:
    up = os.path.relpath(site, page.parent)
    for url, (package, version, path) in ASSETS.items():
        local = f"{up}/static/vendor/{package_dir(package, version)}/{path}"
        text = re.sub(r'(<[^>]*?)"' + re.escape(url) + r'"([^>]*>)',
                      lambda m, local=local: INTEGRITY.sub("", f'{m[1]}"{local}"{m[2]}'), text)
    return LOGO.sub(f"{up}/{LOCAL_LOGO}", text)


def main() -> int:
    try:
        path = fetch()
    except (OSError, RuntimeError) as exc:
        print(f"error: could not fetch the Data Docs assets from {REGISTRY}: {exc}",
              file=sys.stderr)
        return 1
    print(f"Data Docs assets for offline viewing in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
