"""Compressors that arrive through landing fleet files (CLI, simulator) name a model but have no
registered one: the pipeline's load registers it, so per-model thresholds and the Fleet page work."""

from datetime import date

from sqlalchemy import Engine, select

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.models import Organization
from altaviz.db.session import session_scope
from altaviz.monitoring.models import CompressorMetadata, StationLocation
from altaviz.registry.adoption import adopt_models
from altaviz.registry.models import CompressorModel, ThresholdOverride
from altaviz.registry.thresholds import changed_compressors, effective_thresholds, thresholds_version


def _fleet(engine: Engine, units: dict[str, tuple[str, int]]) -> Organization:
    with session_scope(engine) as session:
        org = Organization(name="Files Gas", slug="files-gas")
        session.add(org)
        session.flush()
        session.add(
            StationLocation(organization_id=org.id, station_id="S", station_name="S", latitude=1, longitude=2)
        )
        session.flush()
        for compressor_id, (model, hp) in units.items():
            session.add(
                CompressorMetadata(
                    organization_id=org.id,
                    compressor_id=compressor_id,
                    station_id="S",
                    model=model,
                    horsepower=hp,
                    install_date=date(2024, 1, 1),
                )
            )
        session.expunge(org)
        return org


def test_models_named_by_fleet_files_are_registered_once(db_engine: Engine) -> None:
    org = _fleet(
        db_engine,
        {"C1": ("Ajax DPC-360", 1340), "C2": ("Ajax DPC-360", 1345), "C3": ("Caterpillar G3516", 1775)},
    )
    with session_scope(db_engine) as session:
        assert adopt_models(session, org.id) == 3
    with session_scope(db_engine) as session:
        models = {
            (m.manufacturer, m.model): m
            for m in session.scalars(select(CompressorModel).where(CompressorModel.organization_id == org.id))
        }
        assert set(models) == {("Ajax", "DPC-360"), ("Caterpillar", "G3516")}
        assert models["Ajax", "DPC-360"].rated_hp == 1340
        units = {
            c.compressor_id: c.model_id
            for c in session.scalars(
                select(CompressorMetadata).where(CompressorMetadata.organization_id == org.id)
            )
        }
        assert units["C1"] == units["C2"] == models["Ajax", "DPC-360"].id
        assert (
            session.scalar(select(AuditLog.action).where(AuditLog.organization_id == org.id))
            == "fleet.model.adopt"
        )
        assert thresholds_version(session, org.id) == 0  # new models carry no override
        assert adopt_models(session, org.id) == 0  # nothing left to adopt


def test_a_new_compressor_of_a_model_with_overrides_is_a_thresholds_change(db_engine: Engine) -> None:
    org = _fleet(db_engine, {"C1": ("Ajax DPC-360", 1340)})
    with session_scope(db_engine) as session:
        adopt_models(session, org.id)
        model = session.scalar(select(CompressorModel).where(CompressorModel.organization_id == org.id))
        assert model is not None
        session.add(
            ThresholdOverride(
                organization_id=org.id,
                scope_type="model",
                scope_id=str(model.id),
                metric="vibration_mms",
                warning=5.0,
            )
        )
        session.add(
            CompressorMetadata(
                organization_id=org.id,
                compressor_id="C2",
                station_id="S",
                model="Ajax DPC-360",
                horsepower=1340,
                install_date=date(2024, 1, 1),
            )
        )
    with session_scope(db_engine) as session:
        assert adopt_models(session, org.id) == 1
        assert thresholds_version(session, org.id) == 1
        assert changed_compressors(session, org.id, 0) == {"C2"}
        rows = {(r.compressor_id, r.metric): r for r in effective_thresholds(session, org.id)}
        assert rows["C2", "vibration_mms"].warning == 5.0
