"""After the alert: acknowledge, silence, record responses, measure their effect, review.

* :mod:`~sentinel.alerting.manage` — alerts, acknowledgements, silences, the audit trail,
  and :meth:`AlertManager.annotate`, the hook the daemon calls before saving events;
* :mod:`~sentinel.alerting.api` — the JSON API on the metrics server (bearer tokens);
* :mod:`~sentinel.alerting.responses` — response events and their before/after effect;
* :mod:`~sentinel.alerting.report` / :mod:`~sentinel.alerting.render` — the review report;
* :mod:`~sentinel.alerting.commands` — ``sentinel alerts|response|report``.
"""

from __future__ import annotations

from sentinel.alerting.api import ApiTokens, register_routes
from sentinel.alerting.manage import AlertManager, AlertNotFound, AlertRecord, AlertStateError, Silence
from sentinel.alerting.responses import KINDS, Effect, ResponseEvent, ResponseLog, evaluate_effect

__all__ = [
    "KINDS",
    "AlertManager",
    "AlertNotFound",
    "AlertRecord",
    "AlertStateError",
    "ApiTokens",
    "Effect",
    "ResponseEvent",
    "ResponseLog",
    "Silence",
    "evaluate_effect",
    "register_routes",
]
