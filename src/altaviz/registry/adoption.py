"""The pipeline's side of the fleet registry: the models of compressors that arrived without one.

Apart from `registry.service` (the API's, with its request and response schemas) so that a pipeline
run does not load those.
"""

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from altaviz.accounts.auditing import audit_system
from altaviz.accounts.scoping import OrgScope, scoped
from altaviz.monitoring.models import CompressorMetadata
from altaviz.registry import thresholds
from altaviz.registry.models import CompressorModel


def adopt_models(session: Session, organization_id: uuid.UUID) -> int:
    """Register the models of compressors that arrived without one (landing fleet files of the CLI
    and the simulator carry a model's name and horsepower only), so their Fleet page, per-model
    thresholds and imports work as for registered ones. A name is split at its first space into
    manufacturer and model ("Ajax DPC-360"); a new model's rated HP is the lowest horsepower of its
    compressors. Returns how many compressors were given a model; the pipeline's load calls it.
    """
    scope = OrgScope(organization_id)
    c, m = CompressorMetadata, CompressorModel
    orphans = session.execute(
        scoped(select(c.compressor_id, c.model, c.horsepower), scope, c).where(c.model_id.is_(None))
    ).all()
    if not orphans:
        return 0
    known = {model.display_name: model for model in session.scalars(scoped(select(m), scope, m))}
    by_name: dict[str, list[Any]] = {}
    for row in orphans:
        by_name.setdefault(row.model.strip(), []).append(row)
    assigned: dict[str, list[str]] = {}
    for name, rows in sorted(by_name.items()):
        model = known.get(name)
        existed = model is not None
        if model is None:
            manufacturer, _, model_name = name.partition(" ")
            model = CompressorModel(
                organization_id=organization_id,
                manufacturer=manufacturer[:100],
                model=model_name.strip()[:100],
                rated_hp=max(1, min(int(row.horsepower) for row in rows)),
            )
            session.add(model)
            session.flush()
            known[name] = model
        ids = sorted(row.compressor_id for row in rows)
        session.execute(
            scoped(update(c), scope, c)
            .where(c.compressor_id.in_(ids), c.model_id.is_(None))
            .values(model_id=model.id)
        )
        assigned[model.display_name] = ids
        if existed:  # its overrides (if any) now reach these compressors
            thresholds.record_change(
                session,
                organization_id,
                scope_type="model",
                scope_id=str(model.id),
                kind="model_assignment",
                before={"model_id": None},
                after={"model_id": str(model.id)},
                compressors=ids,
                changed_by="system (pipeline)",
            )
    audit_system(
        session,
        organization_id,
        "fleet.model.adopt",
        what="pipeline",
        target_type="organization",
        target_id=organization_id,
        details={"models": {name: len(ids) for name, ids in assigned.items()}},
    )
    return sum(len(ids) for ids in assigned.values())
