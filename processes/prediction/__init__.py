"""Predictions: demand surges before they hit, the workers each job topic needs, and which orders will miss their
SLA. Fitted from what the engine already records (orders, the audit trail, jobs); see each module's docstring for
the method: forecast.py (Holt-Winters with a rolling-origin back-test), capacity.py, risk.py."""

from processes.prediction.capacity import Advice, TopicLoad
from processes.prediction.forecast import Backtest, Forecast, NotEnoughHistory, forecast
from processes.prediction.history import CHANNEL_VARIABLE, completed_visits
from processes.prediction.predictor import Fitted, PredictionSettings, Predictor
from processes.prediction.risk import Evaluation, Risk, RiskModel, evaluate

__all__ = [
    "CHANNEL_VARIABLE",
    "Advice",
    "Backtest",
    "Evaluation",
    "Fitted",
    "Forecast",
    "NotEnoughHistory",
    "PredictionSettings",
    "Predictor",
    "Risk",
    "RiskModel",
    "TopicLoad",
    "completed_visits",
    "evaluate",
    "forecast",
]
