"""The models are split by concern and mapped on first use (rfpilot.db.models): loading one submodule must leave
the metadata whole for what it holds (every foreign key finds its table), and the package must offer every class
the way one module did."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rfpilot.db import models


@pytest.mark.parametrize("module", models.SUBMODULES)
def test_a_submodule_alone_brings_the_tables_its_foreign_keys_name(module: str) -> None:
    code = (f"import importlib\n"
            f"importlib.import_module('rfpilot.db.models.{module}')\n"
            f"from rfpilot.db.models import Base\n"
            f"for table in Base.metadata.sorted_tables:\n"
            f"    for fk in table.foreign_keys:\n"
            f"        fk.column  # NoReferencedTableError when the table it names is not mapped\n"
            f"print(len(Base.metadata.tables))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) < len(models.WHERE)  # and no more than it needs: the rest stays unmapped


def test_every_class_is_offered_by_the_package_and_load_all_maps_them_all() -> None:
    metadata = models.load_all()
    tables = {getattr(models, name).__table__.name for name in models.WHERE}
    assert tables == set(metadata.tables)
    assert sorted(models.__all__) == sorted({*models.WHERE, "LIST_FILTER_TABLE", "LIST_FILTER_TABLES",
                                             "MEMORY_INDEX_TABLES", "NAMING", "SLUG_MAX", "TRIGRAM_INDEXES",
                                             "Base", "include_in_autogenerate", "load_all", "one_of"})


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        models.NoSuchModel  # noqa: B018
    with pytest.raises(ImportError):
        from rfpilot.db.models import NoSuchModel  # noqa: F401
