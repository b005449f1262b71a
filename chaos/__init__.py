"""The chaos suite: the distributed set-up (PostgreSQL, Redis, Celery workers, the scheduler, the API) under a
steady load of orders while faults are injected. Run it with `make chaos` (or `python -m chaos`); see README
"Run on several machines", "Chaos"."""
