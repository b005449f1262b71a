"""BPMN features that plug into the engine core (`processes.core.Feature`). Each module says what its feature
runs and why SpiffWorkflow needs help with it; `app.features.default_features` lists them in order."""

from processes.features.beans import BeanCalls
from processes.features.call_activities import CallActivities
from processes.features.compensation import Compensation
from processes.features.conditional_events import ConditionalEvents
from processes.features.decisions import Decisions
from processes.features.event_gateways import EventGateways
from processes.features.event_subprocesses import EventSubprocesses
from processes.features.messages import Messages
from processes.features.multi_instance import MultiInstance
from processes.features.schedules import TimerStarts
from processes.features.throw_events import ThrownEvents

__all__ = [
    "BeanCalls",
    "CallActivities",
    "Compensation",
    "ConditionalEvents",
    "Decisions",
    "EventGateways",
    "EventSubprocesses",
    "Messages",
    "MultiInstance",
    "ThrownEvents",
    "TimerStarts",
]
