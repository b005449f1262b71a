"""The inbox: human tasks.

- `feature`: the engine-core features that keep it (ready user tasks projected into rows, discrepancy reviews,
  escalation by timer boundary events);
- `tasks`: listing, claiming, delegating and completing tasks, with forms checked on the server;
- `escalations`: what a timer boundary event on a user task does to it.

The pages are in `app/web/inbox.py`; the REST API in `app/api/tasks.py`."""

from inbox.feature import Escalations, HumanTasks, Reviews

__all__ = ["Escalations", "HumanTasks", "Reviews"]
