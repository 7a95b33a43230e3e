"""Checks for .ci/check_wheel.sh: the built distributions, then the wheel as installed next to Airflow.

``check_dist.py DIST_DIR`` (repo root as cwd) checks the sdist and wheel: core metadata (validated with
``packaging``), version, classifiers, license, entry point and file lists.
``check_dist.py --installed PROVIDERS_JSON HOOKS_JSON`` runs in the fresh venv: imports every module of
the installed package, checks ``airflow providers list/hooks`` output and validates ``get_provider_info()``.
"""

from __future__ import annotations

import ast
import json
import sys
import tarfile
import warnings
import zipfile
from configparser import ConfigParser
from pathlib import Path

PACKAGE = "airflow_provider_acedata"
DIST_NAME = "airflow-provider-acedata"
ENTRY_POINT = f"{PACKAGE}.get_provider_info:get_provider_info"
HOOKS = {"acedata": "hooks.acedata.AceDataHook", "acedata_api": "hooks.api.AceDataApiHook"}
REQUIRED_CLASSIFIERS = {"Framework :: Apache Airflow", "Framework :: Apache Airflow :: Provider", "Typing :: Typed"}
OLDEST_LOCK = "requirements/lock-oldest.txt"
JUNK = ("__pycache__", ".pyc", ".mypy_cache", ".pytest_cache", ".ruff_cache", "node_modules", ".DS_Store")

failures: list[str] = []


def check(ok: bool, message: str) -> None:
    """Record a failure (all are reported at the end, not just the first)."""
    if not ok:
        failures.append(message)


def finish(summary: str) -> None:
    """Exit non-zero with every failure, or print the summary."""
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)
    print(summary)


def source_version() -> str:
    """``__version__`` from the source tree, read without importing (no Airflow needed)."""
    tree = ast.parse(Path(PACKAGE, "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise SystemExit(f"no __version__ in {PACKAGE}/__init__.py")


def oldest_tested_airflow() -> str:
    """The apache-airflow pin of the oldest-version lock (what ``make test-oldest`` runs against)."""
    for line in Path(OLDEST_LOCK).read_text().splitlines():
        if line.startswith("apache-airflow=="):
            return line.split("==", 1)[1].strip()
    raise SystemExit(f"no apache-airflow== pin in {OLDEST_LOCK}")


def check_metadata(raw: bytes, where: str, version: str) -> None:
    """Core metadata fields every release must have right."""
    from packaging.metadata import Metadata
    from packaging.requirements import Requirement

    try:
        meta = Metadata.from_email(raw, validate=True)
    except Exception as exc:  # ExceptionGroup of every invalid field
        check(False, f"{where}: invalid core metadata: {exc!r}")
        return
    check(meta.name == DIST_NAME, f"{where}: Name is {meta.name!r}, expected {DIST_NAME!r}")
    check(str(meta.version) == version, f"{where}: Version {meta.version} != {PACKAGE}.__version__ {version}")
    missing = REQUIRED_CLASSIFIERS - set(meta.classifiers or [])
    check(not missing, f"{where}: classifiers missing {sorted(missing)}")
    check(meta.license_expression == "Apache-2.0", f"{where}: License-Expression is {meta.license_expression!r}")
    check("LICENSE" in (meta.license_files or []), f"{where}: License-File LICENSE missing")
    check(bool(meta.summary), f"{where}: no Summary")
    check(meta.description_content_type == "text/markdown", f"{where}: Description-Content-Type not markdown")
    check(bool(meta.description and meta.description.strip()), f"{where}: empty long description (README)")
    check(meta.requires_python is not None, f"{where}: no Requires-Python")
    airflow = [Requirement(str(r)) for r in meta.requires_dist or [] if Requirement(str(r)).name == "apache-airflow"]
    floors = [s.version for r in airflow for s in r.specifier if s.operator == ">="]
    check(len(airflow) == 1 and len(floors) == 1, f"{where}: needs one apache-airflow>=... requirement")
    oldest = oldest_tested_airflow()
    check(floors == [oldest], f"{where}: apache-airflow floor {floors} != {oldest} tested by {OLDEST_LOCK}")


def check_wheel(wheel: Path, version: str) -> None:
    """Wheel metadata, entry point and file list (the whole package, py.typed, nothing else)."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        info = f"{PACKAGE}-{version}.dist-info"
        check_metadata(zf.read(f"{info}/METADATA"), wheel.name, version)
        entry_points = ConfigParser()
        entry_points.read_string(zf.read(f"{info}/entry_points.txt").decode())
        got = entry_points.get("apache_airflow_provider", "provider_info", fallback=None)
        check(got == ENTRY_POINT, f"{wheel.name}: apache_airflow_provider entry point is {got!r}")
        check(f"{info}/licenses/LICENSE" in names, f"{wheel.name}: LICENSE not in dist-info")
    sources = {p.as_posix() for p in Path(PACKAGE).rglob("*.py") if "__pycache__" not in p.parts}
    check(not sources - set(names), f"{wheel.name}: modules missing: {sorted(sources - set(names))}")
    check(f"{PACKAGE}/py.typed" in names, f"{wheel.name}: {PACKAGE}/py.typed missing")
    strays = [n for n in names if not n.startswith((f"{PACKAGE}/", f"{info}/")) or any(j in n for j in JUNK)]
    check(not strays, f"{wheel.name}: unexpected files {strays}")


def check_sdist(sdist: Path, version: str) -> None:
    """Sdist metadata and file list (sources, demo, tests, examples; no caches)."""
    root = f"{PACKAGE}-{version}"
    with tarfile.open(sdist) as tf:
        names = tf.getnames()
        pkg_info = tf.extractfile(f"{root}/PKG-INFO")
        check(pkg_info is not None, f"{sdist.name}: no PKG-INFO")
        if pkg_info is not None:
            check_metadata(pkg_info.read(), sdist.name, version)
    for needed in ("pyproject.toml", "LICENSE", "README.md", f"{PACKAGE}/__init__.py", f"{PACKAGE}/py.typed"):
        check(f"{root}/{needed}" in names, f"{sdist.name}: {needed} missing")
    for folder in ("demo/", "tests/", "example_dags/"):
        check(any(n.startswith(f"{root}/{folder}") for n in names), f"{sdist.name}: {folder} missing")
    junk = [n for n in names if any(j in n for j in JUNK)]
    check(not junk, f"{sdist.name}: junk files {junk[:10]}")


def check_built(dist: Path) -> None:
    """Mode 1: the files ``uv build`` produced."""
    version = source_version()
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise SystemExit(f"expected one wheel and one sdist in {dist}, got {wheels + sdists}")
    check(wheels[0].name == f"{PACKAGE}-{version}-py3-none-any.whl", f"unexpected wheel name {wheels[0].name}")
    check_wheel(wheels[0], version)
    check_sdist(sdists[0], version)
    finish(f"ok: {wheels[0].name} and {sdists[0].name} ({version})")


def import_all() -> list[str]:
    """Import every module of the installed package; fail on deprecation warnings our code causes."""
    import importlib
    import pkgutil

    package = importlib.import_module(PACKAGE)
    package_dir = str(Path(package.__file__ or "").parent)
    check(package_dir.startswith(sys.prefix), f"{PACKAGE} imported from {package_dir}, not the fresh venv")
    modules = [PACKAGE]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for info in pkgutil.walk_packages(package.__path__, f"{PACKAGE}."):
            try:
                importlib.import_module(info.name)
                modules.append(info.name)
            except Exception as exc:
                check(False, f"import {info.name}: {type(exc).__name__}: {exc}")
    for warning in caught:
        if issubclass(warning.category, DeprecationWarning) and warning.filename.startswith(package_dir):
            check(False, f"{warning.filename}:{warning.lineno}: {warning.category.__name__}: {warning.message}")
    return modules


def check_installed(providers_json: Path, hooks_json: Path) -> None:
    """Mode 2: in the fresh venv, after ``airflow providers list/hooks -o json``."""
    import importlib.metadata

    import jsonschema
    from airflow import __version__ as airflow_version

    modules = import_all()
    from airflow_provider_acedata import __version__

    providers = {p["package_name"]: p for p in json.loads(providers_json.read_text())}
    listed = providers.get(DIST_NAME)
    check(listed is not None, f"`airflow providers list` does not list {DIST_NAME}: {sorted(providers)}")
    if listed is not None:
        check(listed["version"] == __version__, f"providers list shows version {listed['version']}")
    listed_hooks = json.loads(hooks_json.read_text())
    for conn_type, hook_class in HOOKS.items():
        hooks = [h for h in listed_hooks if h.get("connection_type") == conn_type]
        check(len(hooks) == 1, f"`airflow providers hooks` has {len(hooks)} {conn_type!r} rows")
        if hooks:
            check(hooks[0]["class"] == f"{PACKAGE}.{hook_class}", f"{conn_type} hook class {hooks[0]['class']}")
            check(hooks[0]["package_name"] == DIST_NAME, f"{conn_type} hook package {hooks[0]['package_name']}")
    (entry_point,) = importlib.metadata.entry_points(group="apache_airflow_provider", name="provider_info").select(
        module=f"{PACKAGE}.get_provider_info"
    )
    schema_file = Path(importlib.import_module("airflow").__file__ or "").parent / "provider_info.schema.json"
    jsonschema.validate(entry_point.load()(), json.loads(schema_file.read_text()))
    finish(f"ok: Airflow {airflow_version} lists {DIST_NAME} {__version__}; imported {len(modules)} modules")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--installed"] and len(sys.argv) == 4:
        check_installed(Path(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) == 2:
        check_built(Path(sys.argv[1]))
    else:
        raise SystemExit(__doc__)
