"""Developer tool: autogenerate a migration against a scratch SQLite database.

    python -m rfpilot.db.revision "add script templates"

Review the generated file, then add its id to REVISIONS in db/engine.py.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from rfpilot.db.engine import MIGRATIONS_DIR, REVISIONS, create_engine, migrate


async def _main(message: str) -> None:
    from alembic import command
    from alembic.config import Config

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'scratch.db'}")
        await migrate(engine, backup_dir=None)
        new_id = f"{len(REVISIONS) + 1:04d}"

        def generate(sync_conn) -> None:
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
            cfg.attributes["connection"] = sync_conn
            command.revision(cfg, message=message, autogenerate=True, rev_id=new_id)

        async with engine.connect() as conn:
            await conn.run_sync(generate)
        await engine.dispose()
    print(f"wrote migration {new_id}; add it to REVISIONS in rfpilot/db/engine.py")


if __name__ == "__main__":
    asyncio.run(_main(" ".join(sys.argv[1:]) or "change"))
