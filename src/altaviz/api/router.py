"""All JSON routes under /api."""

from fastapi import APIRouter

from altaviz.api import (
    alerts,
    api_keys,
    auth,
    compressors,
    data_quality,
    fleet,
    health,
    maintenance,
    organization,
)

api_router = APIRouter(prefix="/api")
for module in (health, auth, organization, api_keys, fleet, compressors, alerts, maintenance, data_quality):
    api_router.include_router(module.router)
