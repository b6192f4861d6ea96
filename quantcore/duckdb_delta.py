"""duckdb connections that read Delta tables with `delta_scan`, offline.

duckdb's Delta reader is an extension that duckdb would otherwise download from its own
extension site on first use. Here it comes from PyPI instead: the `duckdb-ext-delta` wheel
ships the signed extension binary at `duckdb_ext/extensions/<duckdb version>/<platform>/
delta.duckdb_extension` (no Python code), built for exactly one duckdb release, which is
why pyproject.toml pins the two together. `load_delta` loads that file by its path and
turns off duckdb's automatic installs, so a query never sends duckdb to the network.

    from quantcore.duckdb_delta import connect

    con = connect()
    con.sql(f"SELECT * FROM delta_scan('{root}/book_signals') WHERE date = DATE '2026-01-02'")
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import duckdb

from quantcore.errors import PlatformError

PACKAGE = "duckdb-ext-delta"
_BINARY = "delta.duckdb_extension"


def _install_hint(duckdb_version: str) -> str:
    # The package's versions are `<duckdb version>.<build date>`: the prefix picks the build.
    return f"pip install '{PACKAGE}=={duckdb_version.removeprefix('v')}.*' (`make setup` installs the pinned one)"


def extension_path(con: duckdb.DuckDBPyConnection) -> Path:
    """The installed delta extension binary that matches `con`'s duckdb version and platform."""
    version = con.execute("SELECT library_version FROM pragma_version()").fetchone()[0]  # 'v1.4.4'
    platform = con.execute("PRAGMA platform").fetchone()[0]  # 'linux_amd64'
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise PlatformError(
            f"duckdb's delta extension (`delta_scan`) is not installed: no `{PACKAGE}` package",
            _install_hint(version),
        ) from None
    shipped = [file for file in dist.files or () if file.name == _BINARY]
    wanted = [file for file in shipped if tuple(file.parts[-3:-1]) == (version, platform)]
    if not wanted:
        built_for = ", ".join("/".join(file.parts[-3:-1]) for file in shipped) or "nothing"
        raise PlatformError(
            f"{PACKAGE} {dist.version} has the delta extension for {built_for},"
            f" but this is duckdb {version} on {platform}",
            f"install the pair pinned in pyproject.toml, or {_install_hint(version)}",
        )
    path = Path(dist.locate_file(wanted[0]))
    if not path.is_file():
        raise PlatformError(
            f"{PACKAGE} {dist.version} is installed but {path} is missing", f"reinstall: {_install_hint(version)}"
        )
    return path


def load_delta(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Load the delta extension into `con` from the installed package; never from the network.

    Also turns off `autoinstall_known_extensions` for the database, so that a query needing
    an extension that is not installed fails at once instead of trying duckdb's extension
    site. Extensions already installed locally still autoload.
    """
    con.execute("SET autoinstall_known_extensions = false")
    path = str(extension_path(con)).replace("'", "''")
    con.execute(f"LOAD '{path}'")
    return con


def connect(database: str | Path = ":memory:", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A duckdb connection with `delta_scan` ready (see `load_delta`)."""
    return load_delta(duckdb.connect(str(database), read_only=read_only))
