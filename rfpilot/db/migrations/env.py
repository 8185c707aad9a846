"""Alembic environment: rfpilot hands in an open connection (see db/engine.py).

Run by hand for development: ``python -m rfpilot.db.revision "message"``.
"""

from alembic import context

from rfpilot.db.models import include_in_autogenerate, load_all

config = context.config
target_metadata = load_all()  # every table, not only those some import happened to load


def _render_item(type_: str, obj, autogen_context):
    """Write rfpilot's column types as the plain SQL types they store.

    Migrations must not import rfpilot.db.types: a migration is frozen history
    and keeps working whatever later happens to the model code.
    """
    from rfpilot.db.types import Id, JsonDoc, UTCDateTime

    if type_ != "type":
        return False
    if isinstance(obj, Id):
        return "sa.String(length=36)"
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, JsonDoc):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')"
    return False


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("rfpilot migrations run through rfpilot.db.engine.migrate, not the alembic CLI")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
        include_object=include_in_autogenerate,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
