"""All JSON routes under /api."""

from fastapi import APIRouter

from altaviz.api import (
    alerts,
    api_keys,
    audit,
    auth,
    billing,
    compressors,
    data_quality,
    early_warning,
    export,
    fleet,
    health,
    ingest,
    maintenance,
    notifications,
    organization,
    registry,
    team,
    thresholds,
    workflows,
)

api_router = APIRouter(prefix="/api")
# A request is matched against the routes in this order: the busiest reads come first.
for module in (
    fleet,
    compressors,
    early_warning,
    alerts,
    health,
    auth,
    organization,
    api_keys,
    maintenance,
    data_quality,
):
    api_router.include_router(module.router)
for module in (team, billing, audit, export, workflows, notifications, ingest, registry, thresholds):
    api_router.include_router(module.router)
api_router.include_router(team.accept_router)
