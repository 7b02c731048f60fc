"""sems_lite.memory: trimming the C heap without loading anything big for it."""

from __future__ import annotations

import subprocess
import sys
import weakref
from types import ModuleType

from sems_lite import memory


def test_release_collects_and_reports_whether_it_could_trim() -> None:
    assert memory.release() is (memory._malloc_trim() is not None)


def test_trimming_does_not_load_the_cffi_c_parser() -> None:
    # cffi's cdef() parser (pycparser) stayed resident after the first trim: +4 MB.
    code = (
        "import sys\nfrom sems_lite import memory\nmemory.release()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pycparser', 'cffi'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_forget_modules_frees_the_module_and_its_package_attribute() -> None:
    package, sub = ModuleType("_fm_pkg"), ModuleType("_fm_pkg.sub")
    package.sub = sub  # type: ignore[attr-defined]
    sys.modules.update({"_fm_pkg": package, "_fm_pkg.sub": sub})
    alive = weakref.ref(sub)
    del sub
    try:
        memory.forget_modules(["_fm_pkg.sub", "_fm_pkg.never_imported"])
        assert "_fm_pkg.sub" not in sys.modules
        assert not hasattr(package, "sub")
        assert alive() is None
    finally:
        sys.modules.pop("_fm_pkg", None)


def test_run_forgets_the_argument_and_yaml_parsers() -> None:
    # A config that cannot be read: `run` stops after parsing arguments and loading it.
    code = (
        "import sys\nfrom sems_lite import cli\n"
        "rc = cli.main(['run', '--config', '/nonexistent/sems_lite.yaml'])\n"
        "print(rc, [m for m in ('argparse', 'gettext', 'shutil', 'yaml') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "1 []"
    assert "file not found" in out.stderr


def test_clearing_the_lookup_caches_lets_go_of_names_built_at_run_time() -> None:
    # After a load such names were the last live blocks in otherwise empty arenas.
    name = "".join(["never_", "interned"])

    class Probe:
        pass

    getattr(Probe(), name, None)  # the lookup cache keeps a reference to the name
    held = sys.getrefcount(name)
    memory.clear_lookup_caches()
    assert sys.getrefcount(name) == held - 1


def test_drop_empty_storage_frees_what_an_emptied_container_kept() -> None:
    grown = {n: n for n in range(1000)}
    for key in list(grown):
        del grown[key]
    kept = [1, 2, 3]
    emptied_size = sys.getsizeof(grown)
    memory.drop_empty_storage(grown, kept)
    assert sys.getsizeof(grown) < emptied_size / 10
    assert kept == [1, 2, 3]  # a container still in use is left alone
