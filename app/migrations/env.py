from alembic import context
from sqlalchemy import create_engine

from processes.core.db import configure
from processes.core.models import Base

config = context.config


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things in place
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    with configure(create_engine(config.get_main_option("sqlalchemy.url"))).connect() as conn:
        run(conn)
        conn.commit()
