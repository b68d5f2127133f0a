"""The public surface is exactly what __all__ lists (after httpx's test of the same name)."""

from __future__ import annotations

import asgi_translate


def test_all_members_are_exported_and_sorted() -> None:
    exported = set(asgi_translate.__all__)
    public = {name for name in dir(asgi_translate) if not name.startswith("_")} | {"__version__"}
    # Submodules (schemas, testing, cli, ...) are importable but not part of __all__.
    public -= {"schemas", "testing", "cli"}
    assert exported == public
    names = [name for name in asgi_translate.__all__ if name != "__version__"]
    assert names == sorted(names)


def test_importing_the_package_does_not_import_optional_dependencies() -> None:
    import subprocess
    import sys

    code = "import sys, asgi_translate; print('redis' in sys.modules, 'uvicorn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
