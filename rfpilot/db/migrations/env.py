"""Alembic environment: rfpilot hands in an open connection (see db/engine.py).

Run by hand for development: ``python -m rfpilot.db.revision "message"``.
"""

from alembic import context

from rfpilot.db.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("rfpilot migrations run through rfpilot.db.engine.migrate, not the alembic CLI")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
