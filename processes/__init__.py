"""The engine around SpiffWorkflow: deployments, instances, the engine step, jobs, audit.

Knows nothing of Flask."""
