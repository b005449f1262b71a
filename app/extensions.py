"""Extension objects, bound to an app in create_app (nothing is configured at import time)."""

from apiflask import HTTPTokenAuth
from flask_sqlalchemy import SQLAlchemy

from processes.core.models import Base

db = SQLAlchemy(model_class=Base)
auth = HTTPTokenAuth(scheme="Bearer", description="API token: `Authorization: Bearer <token>`")
