"""Package size: each function's arm64 `bootstrap` (as `cargo lambda build --release --arm64` and
`sam build` make it) zipped as SAM zips a function for upload (deflate, level 9)."""

from __future__ import annotations

import os
import tempfile
import zipfile
from typing import Any


def zipped_size(bootstrap: str) -> int:
    with tempfile.TemporaryDirectory(prefix="gantry-bench-zip-") as tmp:
        path = os.path.join(tmp, "function.zip")
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            info = zipfile.ZipInfo("bootstrap")
            info.external_attr = 0o755 << 16  # executable, as Lambda needs it
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(bootstrap, "rb") as f:
                z.writestr(info, f.read(), compresslevel=9)
        return os.path.getsize(path)


def sizes(lambda_dir: str, names: list[str], host_dir: str = "") -> dict[str, Any]:
    """`{name: {bootstrap_bytes, zip_bytes}}`, or `{missing: path}` for one not built (with the host
    release binary's zipped size beside it, `host_zip_bytes`, a reference only: not the arm64 goal)."""
    out: dict[str, Any] = {}
    for name in names:
        bootstrap = os.path.join(lambda_dir, name, "bootstrap")
        if not os.path.isfile(bootstrap):
            out[name] = {"missing": bootstrap}
            host = os.path.join(host_dir, name) if host_dir else ""
            if host and os.path.isfile(host):
                out[name]["host_zip_bytes"] = zipped_size(host)
            continue
        out[name] = {"bootstrap_bytes": os.path.getsize(bootstrap), "zip_bytes": zipped_size(bootstrap)}
    return out
