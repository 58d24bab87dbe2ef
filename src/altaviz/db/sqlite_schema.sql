-- alembic revision 0012
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

CREATE TABLE organizations (
	id CHAR(32) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	slug VARCHAR(100) NOT NULL, 
	subscription_tier VARCHAR(20) NOT NULL, 
	subscription_status VARCHAR(20) NOT NULL, 
	max_compressors INTEGER, 
	stripe_customer_id VARCHAR(100), 
	stripe_subscription_id VARCHAR(100), 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, data_version BIGINT DEFAULT '0' NOT NULL, time_zone VARCHAR(64) DEFAULT 'UTC' NOT NULL, 
	CONSTRAINT pk_organizations PRIMARY KEY (id), 
	CONSTRAINT ck_organizations_tier CHECK (subscription_tier IN ('free', 'pro', 'enterprise')), 
	CONSTRAINT ck_organizations_status CHECK (subscription_status IN ('active', 'past_due', 'canceled', 'trialing')), 
	CONSTRAINT uq_organizations_slug UNIQUE (slug)
);

CREATE TABLE pipeline_runs (
	id CHAR(32) NOT NULL, 
	organization_id CHAR(32) NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	status VARCHAR(20) NOT NULL, 
	engine VARCHAR(20) NOT NULL, 
	stages JSON, 
	input_fingerprint VARCHAR(64), 
	counts JSON, 
	report TEXT, 
	error TEXT, 
	duration_seconds FLOAT, 
	CONSTRAINT pk_pipeline_runs PRIMARY KEY (id), 
	CONSTRAINT fk_pipeline_runs_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE, 
	CONSTRAINT ck_pipeline_runs_status CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned'))
);

CREATE TABLE users (
	id CHAR(32) NOT NULL, 
	organization_id CHAR(32) NOT NULL, 
	email VARCHAR(320) NOT NULL, 
	name VARCHAR(200), 
	password_hash VARCHAR(255), 
	role VARCHAR(20) NOT NULL, 
	is_active BOOLEAN NOT NULL, 
	last_login_at DATETIME, 
	password_changed_at DATETIME, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_users PRIMARY KEY (id), 
	CONSTRAINT ck_users_role CHECK (role IN ('owner', 'admin', 'operator', 'viewer')), 
	CONSTRAINT fk_users_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE, 
	CONSTRAINT uq_users_email UNIQUE (email)
);

CREATE TABLE user_sessions (
	id CHAR(32) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	user_id CHAR(32) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	last_seen_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	ip_address VARCHAR(45), 
	user_agent VARCHAR(300), 
	CONSTRAINT pk_user_sessions PRIMARY KEY (id), 
	CONSTRAINT fk_user_sessions_user_id_users FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE, 
	CONSTRAINT uq_user_sessions_token_hash UNIQUE (token_hash)
);

CREATE TABLE audit_log (
	id INTEGER NOT NULL, 
	organization_id CHAR(32) NOT NULL, 
	actor_type VARCHAR(20) NOT NULL, 
	actor_id VARCHAR(64), 
	actor_name VARCHAR(200) NOT NULL, 
	action VARCHAR(100) NOT NULL, 
	target_type VARCHAR(50) NOT NULL, 
	target_id VARCHAR(255), 
	ip VARCHAR(45), 
	details JSON, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_audit_log PRIMARY KEY (id), 
	CONSTRAINT fk_audit_log_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE TABLE workflow_runs (
	id CHAR(32) NOT NULL, 
	organization_id CHAR(32) NOT NULL, 
	workflow VARCHAR(30) NOT NULL, 
	"trigger" VARCHAR(20) NOT NULL, 
	started_at DATETIME NOT NULL, 
	as_of DATETIME NOT NULL, 
	duration_ms FLOAT NOT NULL, 
	result_count INTEGER NOT NULL, 
	outcome VARCHAR(20) NOT NULL, 
	details JSON, 
	error TEXT, 
	CONSTRAINT pk_workflow_runs PRIMARY KEY (id), 
	CONSTRAINT ck_workflow_runs_workflow CHECK (workflow IN ('escalation', 'auto_resolve', 'staleness', 'cleanup')), 
	CONSTRAINT ck_workflow_runs_outcome CHECK (outcome IN ('succeeded', 'failed')), 
	CONSTRAINT fk_workflow_runs_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE TABLE job_locks (
	name VARCHAR(100) NOT NULL, 
	holder VARCHAR(200), 
	acquired_at DATETIME, 
	expires_at DATETIME, 
	CONSTRAINT pk_job_locks PRIMARY KEY (name)
);

CREATE TABLE notification_channels (
	id CHAR(32) NOT NULL, 
	organization_id CHAR(32) NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	target VARCHAR(2000) NOT NULL, 
	secret VARCHAR(200), 
	enabled BOOLEAN NOT NULL, 
	created_by VARCHAR(200), 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_notification_channels PRIMARY KEY (id), 
	CONSTRAINT ck_notification_channels_kind CHECK (kind IN ('email', 'webhook')), 
	CONSTRAINT fk_notification_channels_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE TABLE "billing_events" (
	id CHAR(32) NOT NULL, 
	organization_id CHAR(32), 
	stripe_event_id VARCHAR(255) NOT NULL, 
	event_type VARCHAR(100) NOT NULL, 
	amount_cents INTEGER, 
	currency VARCHAR(3) NOT NULL, 
	metadata JSON, 
	created_at DATETIME NOT NULL, 
	stripe_created_at DATETIME, 
	stripe_customer_id VARCHAR(255), 
	stripe_subscription_id VARCHAR(255), 
	outcome VARCHAR(20) NOT NULL, 
	detail TEXT, 
	CONSTRAINT pk_billing_events PRIMARY KEY (id), 
	CONSTRAINT fk_billing_events_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE, 
	CONSTRAINT uq_billing_events_stripe_event_id UNIQUE (stripe_event_id)
);

CREATE TABLE billing_subscriptions (
	stripe_subscription_id VARCHAR(255) NOT NULL, 
	organization_id CHAR(32) NOT NULL, 
	stripe_customer_id VARCHAR(255), 
	status VARCHAR(30) NOT NULL, 
	tier VARCHAR(20), 
	price_id VARCHAR(255), 
	event_at DATETIME NOT NULL, 
	event_rank INTEGER NOT NULL, 
	event_id VARCHAR(255) NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_billing_subscriptions PRIMARY KEY (stripe_subscription_id), 
	CONSTRAINT fk_billing_subscriptions_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE TABLE invitations (
	id CHAR(32) NOT NULL, 
	organization_id CHAR(32) NOT NULL, 
	email VARCHAR(320) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	invited_by CHAR(32), 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	accepted_at DATETIME, 
	accepted_user_id CHAR(32), 
	revoked_at DATETIME, 
	CONSTRAINT pk_invitations PRIMARY KEY (id), 
	CONSTRAINT ck_invitations_role CHECK (role IN ('owner', 'admin', 'operator', 'viewer')), 
	CONSTRAINT fk_invitations_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE, 
	CONSTRAINT fk_invitations_invited_by_users FOREIGN KEY(invited_by) REFERENCES users (id) ON DELETE SET NULL, 
	CONSTRAINT fk_invitations_accepted_user_id_users FOREIGN KEY(accepted_user_id) REFERENCES users (id) ON DELETE SET NULL, 
	CONSTRAINT uq_invitations_token_hash UNIQUE (token_hash)
);

CREATE TABLE "station_locations" (
	organization_id CHAR(32) NOT NULL, 
	station_id VARCHAR(64) NOT NULL, 
	station_name VARCHAR(200) NOT NULL, 
	latitude FLOAT NOT NULL, 
	longitude FLOAT NOT NULL, 
	region VARCHAR(100), 
	city VARCHAR(100), 
	state VARCHAR(2), 
	basin VARCHAR(100), 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_station_locations PRIMARY KEY (organization_id, station_id), 
	CONSTRAINT fk_station_locations_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE TABLE "maintenance_events" (
	id INTEGER NOT NULL, 
	organization_id CHAR(32) NOT NULL, 
	event_id VARCHAR(100) NOT NULL, 
	compressor_id VARCHAR(64) NOT NULL, 
	performed_at DATETIME NOT NULL, 
	event_date DATE NOT NULL, 
	event_type VARCHAR(20) NOT NULL, 
	description TEXT, 
	downtime_hours FLOAT, 
	severity VARCHAR(20), 
	cost_usd FLOAT, 
	performed_by VARCHAR(100), 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_maintenance_events PRIMARY KEY (id), 
	CONSTRAINT ck_maintenance_events_event_type CHECK (event_type IN ('scheduled', 'unscheduled', 'inspection', 'failure')), 
	CONSTRAINT uq_maintenance_events_organization_id_event_id UNIQUE (organization_id, event_id), 
	CONSTRAINT fk_maintenance_events_compressor FOREIGN KEY(organization_id, compressor_id) REFERENCES compressor_metadata (organization_id, compressor_id) ON DELETE CASCADE, 
	CONSTRAINT fk_maintenance_events_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE TABLE "sensor_readings_agg" (
	id INTEGER NOT NULL, 
	organization_id CHAR(32) NOT NULL, 
	compressor_id VARCHAR(64) NOT NULL, 
	agg_timestamp DATETIME NOT NULL, 
	window_type VARCHAR(10) NOT NULL, 
	vibration_mean FLOAT, 
	vibration_std FLOAT, 
	vibration_min FLOAT, 
	vibration_max FLOAT, 
	discharge_temp_mean FLOAT, 
	discharge_temp_std FLOAT, 
	discharge_temp_min FLOAT, 
	discharge_temp_max FLOAT, 
	suction_pressure_mean FLOAT, 
	suction_pressure_std FLOAT, 
	suction_pressure_min FLOAT, 
	suction_pressure_max FLOAT, 
	discharge_pressure_mean FLOAT, 
	discharge_pressure_std FLOAT, 
	discharge_pressure_min FLOAT, 
	discharge_pressure_max FLOAT, 
	horsepower_mean FLOAT, 
	horsepower_std FLOAT, 
	horsepower_min FLOAT, 
	horsepower_max FLOAT, 
	gas_flow_mean FLOAT, 
	gas_flow_std FLOAT, 
	gas_flow_min FLOAT, 
	gas_flow_max FLOAT, 
	pressure_delta_mean FLOAT, 
	discharge_temp_rate_of_change FLOAT, 
	reading_count INTEGER NOT NULL, 
	expected_readings INTEGER NOT NULL, 
	missing_readings INTEGER NOT NULL, 
	violation_count INTEGER NOT NULL, 
	CONSTRAINT pk_sensor_readings_agg PRIMARY KEY (id), 
	CONSTRAINT ck_sensor_readings_agg_window_type CHECK (window_type IN ('1hr', '4hr', '24hr')), 
	CONSTRAINT fk_sensor_readings_agg_compressor FOREIGN KEY(organization_id, compressor_id) REFERENCES compressor_metadata (organization_id, compressor_id) ON DELETE CASCADE, 
	CONSTRAINT fk_sensor_readings_agg_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE, 
	CONSTRAINT uq_sensor_readings_agg_organization_id_compressor_id_window_type_agg_timestamp UNIQUE (organization_id, compressor_id, window_type, agg_timestamp)
);

CREATE TABLE "data_quality_metrics" (
	id INTEGER NOT NULL, 
	organization_id CHAR(32) NOT NULL, 
	input_fingerprint VARCHAR(64) NOT NULL, 
	metric_timestamp DATETIME NOT NULL, 
	scope VARCHAR(64) NOT NULL, 
	compressor_id VARCHAR(64), 
	metric_type VARCHAR(20) NOT NULL, 
	metric_value FLOAT, 
	pass_threshold BOOLEAN NOT NULL, 
	details JSON, 
	CONSTRAINT pk_data_quality_metrics PRIMARY KEY (id), 
	CONSTRAINT ck_data_quality_metrics_metric_type CHECK (metric_type IN ('freshness', 'completeness', 'consistency', 'accuracy')), 
	CONSTRAINT uq_data_quality_metrics_organization_id_input_fingerprint_scope_metric_type UNIQUE (organization_id, input_fingerprint, scope, metric_type), 
	CONSTRAINT fk_data_quality_metrics_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE TABLE "notification_messages" (
	id CHAR(32) NOT NULL, 
	organization_id CHAR(32) NOT NULL, 
	channel_id CHAR(32) NOT NULL, 
	compressor_id VARCHAR(64) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	events JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	send_after DATETIME NOT NULL, 
	attempts INTEGER NOT NULL, 
	claimed_until DATETIME, 
	sent_at DATETIME, 
	last_error TEXT, 
	CONSTRAINT pk_notification_messages PRIMARY KEY (id), 
	CONSTRAINT fk_notification_messages_channel_id_notification_channels FOREIGN KEY(channel_id) REFERENCES notification_channels (id) ON DELETE CASCADE, 
	CONSTRAINT fk_notification_messages_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE, 
	CONSTRAINT ck_notification_messages_status CHECK (status IN ('pending', 'sending', 'sent', 'failed'))
);

CREATE TABLE "plan_limit_quarantines" (
	organization_id CHAR(32) NOT NULL, 
	compressor_id VARCHAR(64) NOT NULL, 
	readings INTEGER NOT NULL, 
	first_at DATETIME NOT NULL, 
	last_at DATETIME NOT NULL, 
	CONSTRAINT pk_plan_limit_quarantines PRIMARY KEY (organization_id, compressor_id), 
	CONSTRAINT fk_plan_limit_quarantines_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE TABLE recent_readings (
	organization_id CHAR(32) NOT NULL, 
	compressor_id VARCHAR(64) NOT NULL, 
	timestamp DATETIME NOT NULL, 
	vibration_mms FLOAT, 
	discharge_temp_f FLOAT, 
	suction_pressure_psi FLOAT, 
	discharge_pressure_psi FLOAT, 
	horsepower_consumption FLOAT, 
	gas_flow_mcf FLOAT, 
	pressure_differential FLOAT, 
	status VARCHAR(10) NOT NULL, 
	CONSTRAINT pk_recent_readings PRIMARY KEY (organization_id, compressor_id, timestamp), 
	CONSTRAINT fk_recent_readings_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE, 
	CONSTRAINT fk_recent_readings_compressor FOREIGN KEY(organization_id, compressor_id) REFERENCES compressor_metadata (organization_id, compressor_id) ON DELETE CASCADE
);

CREATE TABLE compressor_state (
	organization_id CHAR(32) NOT NULL, 
	compressor_id VARCHAR(64) NOT NULL, 
	last_reading_at DATETIME, 
	vibration_mms FLOAT, 
	discharge_temp_f FLOAT, 
	suction_pressure_psi FLOAT, 
	discharge_pressure_psi FLOAT, 
	horsepower_consumption FLOAT, 
	gas_flow_mcf FLOAT, 
	pressure_differential FLOAT, 
	reading_status VARCHAR(10), 
	agg_timestamp DATETIME, 
	vibration_mean FLOAT, 
	vibration_max FLOAT, 
	discharge_temp_mean FLOAT, 
	discharge_temp_max FLOAT, 
	suction_pressure_mean FLOAT, 
	discharge_pressure_mean FLOAT, 
	horsepower_mean FLOAT, 
	gas_flow_mean FLOAT, 
	pressure_delta_mean FLOAT, 
	discharge_temp_rate_of_change FLOAT, 
	reading_count INTEGER, 
	missing_readings INTEGER, 
	updated_at DATETIME NOT NULL, health_index FLOAT, health_status VARCHAR(12), 
	CONSTRAINT pk_compressor_state PRIMARY KEY (organization_id, compressor_id), 
	CONSTRAINT fk_compressor_state_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE, 
	CONSTRAINT fk_compressor_state_compressor FOREIGN KEY(organization_id, compressor_id) REFERENCES compressor_metadata (organization_id, compressor_id) ON DELETE CASCADE
);

CREATE TABLE compressor_models (
	id CHAR(32) NOT NULL, 
	organization_id CHAR(32) NOT NULL, 
	manufacturer VARCHAR(100) NOT NULL, 
	model VARCHAR(100) NOT NULL, 
	rated_hp INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_compressor_models PRIMARY KEY (id), 
	CONSTRAINT fk_compressor_models_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE, 
	CONSTRAINT uq_compressor_models_organization_id_manufacturer_model UNIQUE (organization_id, manufacturer, model), 
	CONSTRAINT uq_compressor_models_organization_id_id UNIQUE (organization_id, id), 
	CONSTRAINT ck_compressor_models_rated_hp_positive CHECK (rated_hp > 0)
);

CREATE TABLE threshold_overrides (
	id INTEGER NOT NULL, 
	organization_id CHAR(32) NOT NULL, 
	scope_type VARCHAR(20) NOT NULL, 
	scope_id VARCHAR(64) NOT NULL, 
	metric VARCHAR(50) NOT NULL, 
	warning FLOAT, 
	critical FLOAT, 
	on_delay INTEGER, 
	clear_count INTEGER, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_threshold_overrides PRIMARY KEY (id), 
	CONSTRAINT fk_threshold_overrides_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE, 
	CONSTRAINT uq_threshold_overrides_organization_id_scope_type_scope_id_metric UNIQUE (organization_id, scope_type, scope_id, metric), 
	CONSTRAINT ck_threshold_overrides_scope_type CHECK (scope_type IN ('organization', 'model', 'compressor')), 
	CONSTRAINT ck_threshold_overrides_on_delay_positive CHECK (on_delay IS NULL OR on_delay > 0), 
	CONSTRAINT ck_threshold_overrides_clear_count_positive CHECK (clear_count IS NULL OR clear_count > 0)
);

CREATE TABLE threshold_changes (
	id INTEGER NOT NULL, 
	organization_id CHAR(32) NOT NULL, 
	version INTEGER NOT NULL, 
	scope_type VARCHAR(20) NOT NULL, 
	scope_id VARCHAR(64) NOT NULL, 
	kind VARCHAR(30) NOT NULL, 
	"before" JSON NOT NULL, 
	"after" JSON NOT NULL, 
	compressors JSON, 
	changed_by VARCHAR(200) NOT NULL, 
	changed_at DATETIME NOT NULL, 
	CONSTRAINT pk_threshold_changes PRIMARY KEY (id), 
	CONSTRAINT fk_threshold_changes_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE, 
	CONSTRAINT uq_threshold_changes_organization_id_version UNIQUE (organization_id, version), 
	CONSTRAINT ck_threshold_changes_scope_type CHECK (scope_type IN ('organization', 'model', 'compressor')), 
	CONSTRAINT ck_threshold_changes_kind CHECK (kind IN ('overrides', 'model_assignment'))
);

CREATE TABLE "compressor_metadata" (
	organization_id CHAR(32) NOT NULL, 
	compressor_id VARCHAR(64) NOT NULL, 
	station_id VARCHAR(64) NOT NULL, 
	model VARCHAR(100) NOT NULL, 
	horsepower INTEGER NOT NULL, 
	install_date DATE NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	model_id CHAR(32), 
	notes TEXT, 
	archived_at DATETIME, 
	CONSTRAINT pk_compressor_metadata PRIMARY KEY (organization_id, compressor_id), 
	CONSTRAINT fk_compressor_metadata_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE, 
	CONSTRAINT fk_compressor_metadata_station FOREIGN KEY(organization_id, station_id) REFERENCES station_locations (organization_id, station_id) ON DELETE RESTRICT, 
	CONSTRAINT fk_compressor_metadata_model FOREIGN KEY(organization_id, model_id) REFERENCES compressor_models (organization_id, id) ON DELETE RESTRICT
);

CREATE TABLE "api_keys" (
	id CHAR(32) NOT NULL, 
	organization_id CHAR(32) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	prefix VARCHAR(16) NOT NULL, 
	key_hash VARCHAR(64) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	created_by CHAR(32), 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME, 
	last_used_at DATETIME, 
	revoked_at DATETIME, 
	created_by_email VARCHAR(320), 
	created_by_name VARCHAR(200), 
	CONSTRAINT pk_api_keys PRIMARY KEY (id), 
	CONSTRAINT uq_api_keys_key_hash UNIQUE (key_hash), 
	CONSTRAINT fk_api_keys_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE, 
	CONSTRAINT ck_api_keys_role CHECK (role IN ('admin', 'operator', 'viewer', 'ingest'))
);

CREATE TABLE ingest_requests (
	organization_id CHAR(32) NOT NULL, 
	idempotency_key VARCHAR(255) NOT NULL, 
	request_sha256 VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	status_code INTEGER, 
	response_body TEXT, 
	completed_at DATETIME, 
	CONSTRAINT pk_ingest_requests PRIMARY KEY (organization_id, idempotency_key), 
	CONSTRAINT fk_ingest_requests_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE TABLE compressor_health (
	organization_id CHAR(32) NOT NULL, 
	compressor_id VARCHAR(64) NOT NULL, 
	hour DATETIME NOT NULL, 
	health_index FLOAT, 
	status VARCHAR(12) NOT NULL, 
	drivers TEXT, 
	CONSTRAINT pk_compressor_health PRIMARY KEY (organization_id, compressor_id, hour), 
	CONSTRAINT fk_compressor_health_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE, 
	CONSTRAINT fk_compressor_health_compressor FOREIGN KEY(organization_id, compressor_id) REFERENCES compressor_metadata (organization_id, compressor_id) ON DELETE CASCADE, 
	CONSTRAINT ck_compressor_health_status CHECK (status IN ('warmup', 'stopped', 'judged'))
);

CREATE TABLE compressor_predictions (
	organization_id CHAR(32) NOT NULL, 
	compressor_id VARCHAR(64) NOT NULL, 
	metric VARCHAR(50) NOT NULL, 
	level VARCHAR(10) NOT NULL, 
	threshold_value FLOAT NOT NULL, 
	hours FLOAT NOT NULL, 
	hours_low FLOAT NOT NULL, 
	hours_high FLOAT, 
	projected_at DATETIME NOT NULL, 
	computed_at DATETIME NOT NULL, 
	CONSTRAINT pk_compressor_predictions PRIMARY KEY (organization_id, compressor_id, metric, level), 
	CONSTRAINT fk_compressor_predictions_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE, 
	CONSTRAINT fk_compressor_predictions_compressor FOREIGN KEY(organization_id, compressor_id) REFERENCES compressor_metadata (organization_id, compressor_id) ON DELETE CASCADE, 
	CONSTRAINT ck_compressor_predictions_level CHECK (level IN ('warning', 'critical'))
);

CREATE TABLE "alert_history" (
	id INTEGER NOT NULL, 
	organization_id CHAR(32) NOT NULL, 
	compressor_id VARCHAR(64) NOT NULL, 
	condition VARCHAR(50) NOT NULL, 
	alert_type VARCHAR(30) NOT NULL, 
	severity VARCHAR(10) NOT NULL, 
	sensor_name VARCHAR(50), 
	alert_timestamp DATETIME NOT NULL, 
	raised_at DATETIME NOT NULL, 
	last_violation_at DATETIME NOT NULL, 
	returned_to_normal_at DATETIME, 
	is_active BOOLEAN NOT NULL, 
	sensor_value FLOAT, 
	threshold_value FLOAT, 
	message TEXT, 
	violation_count INTEGER NOT NULL, 
	acknowledged BOOLEAN NOT NULL, 
	acknowledged_by VARCHAR(200), 
	acknowledged_at DATETIME, 
	resolved BOOLEAN NOT NULL, 
	resolved_by VARCHAR(200), 
	resolved_at DATETIME, 
	resolution_note TEXT, 
	shelved_until DATETIME, 
	shelved_by VARCHAR(200), 
	shelve_reason TEXT, 
	escalated_at DATETIME, 
	source VARCHAR(20) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	shelved_at DATETIME, 
	escalation_note TEXT, 
	notified_severity VARCHAR(10), 
	notified_at DATETIME, 
	related_alert_id INTEGER, 
	CONSTRAINT pk_alert_history PRIMARY KEY (id), 
	CONSTRAINT fk_alert_history_compressor FOREIGN KEY(organization_id, compressor_id) REFERENCES compressor_metadata (organization_id, compressor_id) ON DELETE CASCADE, 
	CONSTRAINT uq_alert_history_organization_id_compressor_id_condition_alert_timestamp UNIQUE (organization_id, compressor_id, condition, alert_timestamp), 
	CONSTRAINT fk_alert_history_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE, 
	CONSTRAINT ck_alert_history_alert_type CHECK (alert_type IN ('threshold_warning', 'threshold_critical', 'staleness', 'anomaly', 'prediction')), 
	CONSTRAINT ck_alert_history_severity CHECK (severity IN ('info', 'warning', 'critical')), 
	CONSTRAINT fk_alert_history_related_alert_id_alert_history FOREIGN KEY(related_alert_id) REFERENCES alert_history (id) ON DELETE SET NULL
);

CREATE TABLE compressor_connectivity (
	organization_id CHAR(32) NOT NULL, 
	compressor_id VARCHAR(64) NOT NULL, 
	state VARCHAR(7) NOT NULL, 
	changed_at DATETIME NOT NULL, 
	reason VARCHAR(200), 
	source VARCHAR(200) NOT NULL, 
	received_at DATETIME NOT NULL, 
	CONSTRAINT pk_compressor_connectivity PRIMARY KEY (organization_id, compressor_id), 
	CONSTRAINT ck_compressor_connectivity_state CHECK (state IN ('offline', 'online')), 
	CONSTRAINT fk_compressor_connectivity_compressor FOREIGN KEY(organization_id, compressor_id) REFERENCES compressor_metadata (organization_id, compressor_id) ON DELETE CASCADE, 
	CONSTRAINT fk_compressor_connectivity_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE INDEX ix_organizations_stripe_customer_id ON organizations (stripe_customer_id);

CREATE INDEX ix_pipeline_runs_org_started ON pipeline_runs (organization_id, started_at);

CREATE INDEX ix_users_organization_id ON users (organization_id);

CREATE INDEX ix_user_sessions_user_id ON user_sessions (user_id);

CREATE INDEX ix_audit_log_org_created ON audit_log (organization_id, created_at);

CREATE INDEX ix_audit_log_org_target ON audit_log (organization_id, target_type, target_id);

CREATE INDEX ix_workflow_runs_org_started ON workflow_runs (organization_id, started_at);

CREATE INDEX ix_workflow_runs_started ON workflow_runs (started_at);

CREATE INDEX ix_notification_channels_organization_id ON notification_channels (organization_id);

CREATE INDEX ix_billing_events_organization_id ON billing_events (organization_id);

CREATE INDEX ix_billing_events_created_at ON billing_events (created_at);

CREATE INDEX ix_billing_subscriptions_organization_id ON billing_subscriptions (organization_id);

CREATE INDEX ix_invitations_organization_id ON invitations (organization_id);

CREATE INDEX ix_invitations_email ON invitations (email);

CREATE INDEX ix_maintenance_events_compressor ON maintenance_events (organization_id, compressor_id, performed_at);

CREATE INDEX ix_sensor_readings_agg_org_time ON sensor_readings_agg (organization_id, agg_timestamp);

CREATE INDEX ix_data_quality_metrics_org_time ON data_quality_metrics (organization_id, metric_timestamp);

CREATE INDEX ix_notification_messages_due ON notification_messages (status, send_after);

CREATE INDEX ix_notification_messages_org_created ON notification_messages (organization_id, created_at);

CREATE INDEX ix_notification_messages_group ON notification_messages (channel_id, compressor_id, status);

CREATE INDEX ix_recent_readings_org_time ON recent_readings (organization_id, timestamp);

CREATE INDEX ix_threshold_changes_scope ON threshold_changes (organization_id, scope_type, scope_id);

CREATE INDEX ix_compressor_metadata_station ON compressor_metadata (organization_id, station_id);

CREATE INDEX ix_api_keys_organization_id ON api_keys (organization_id);

CREATE INDEX ix_ingest_requests_created_at ON ingest_requests (created_at);

CREATE INDEX ix_compressor_health_org_hour ON compressor_health (organization_id, hour);

CREATE INDEX ix_alert_history_org_open ON alert_history (organization_id, resolved, is_active);

CREATE UNIQUE INDEX uq_alert_history_open_staleness ON alert_history (organization_id, compressor_id) WHERE condition = 'data_staleness' AND NOT resolved;

CREATE INDEX ix_alert_history_org_time ON alert_history (organization_id, alert_timestamp);

CREATE INDEX ix_alert_history_related_alert_id ON alert_history (related_alert_id);

