"""Jobs: durable work outside the engine step.

- `service`: claiming by lease, running, reporting back through an engine step (`JobService`);
- `service_tasks`: the feature that writes a job for each service task the engine reaches;
- the transport interface (`processes.core.JobDispatcher`) with its implementations side by side: `embedded`
  (worker threads in the server process) and `broker` (Celery on Redis or RabbitMQ; `app.worker` runs the workers);
- `chain`: in a worker process, the next job of an order runs right after the job that made it (`JobChain`);
- `incidents` and `dead_letters`: what failed, for operators."""

from processes.jobs.service import (
    RETRIES_EXHAUSTED,
    BpmnErrorThrown,
    JobExecutor,
    JobFailed,
    JobNeedsReview,
    JobService,
    retry_delays,
)
from processes.jobs.service_tasks import ServiceTasks, service_job

__all__ = [
    "RETRIES_EXHAUSTED",
    "BpmnErrorThrown",
    "JobExecutor",
    "JobFailed",
    "JobNeedsReview",
    "JobService",
    "ServiceTasks",
    "retry_delays",
    "service_job",
]
