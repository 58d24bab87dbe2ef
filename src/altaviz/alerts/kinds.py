"""Alert kinds that the pipeline writes and the service reads, in a module without the database layer
(a pipeline run imports this, not alerts.models and SQLAlchemy).

Early warnings (issue 19; altaviz.pipeline.health): raised at 'warning', notified once, never
escalated to critical by the escalation workflow (the threshold alert that may follow is critical on
its own and links back to them: related_alert_id).
"""

EARLY_WARNING_TYPES: tuple[str, ...] = ("anomaly", "prediction")
