package postgres

// migrations is the PostgreSQL schema, one step per release that changed it. Never edit a
// released step: append a new one.
//
// Times are bigint nanoseconds since the Unix epoch (UTC), 0 meaning "not set", as in the
// SQLite backend: timestamptz keeps only microseconds, and the alert deduplication key and
// timer identity need the exact instants Alertmanager and the lifecycle use. To read one in
// psql: to_timestamp(started_at / 1e9).
var migrations = []migration{
	{Version: 1, Name: "incidents, timeline, outbox, timers, deploys, alert events", SQL: `
CREATE TABLE incidents (
	id         text PRIMARY KEY,
	key        text NOT NULL,
	client     text NOT NULL,
	state      text NOT NULL,
	drill      boolean NOT NULL,
	started_at bigint NOT NULL,
	version    bigint NOT NULL,
	data       jsonb NOT NULL
);
-- One open incident per key, whichever replica creates it.
CREATE UNIQUE INDEX incidents_one_open_per_key ON incidents (key) WHERE state <> 'resolved';
CREATE INDEX incidents_started ON incidents (started_at DESC, id DESC);
CREATE INDEX incidents_client ON incidents (client, started_at DESC);

CREATE TABLE timeline (
	id          bigserial PRIMARY KEY,
	incident_id text NOT NULL,
	at          bigint NOT NULL,
	actor       text NOT NULL,
	kind        text NOT NULL,
	text        text NOT NULL
);
CREATE INDEX timeline_incident ON timeline (incident_id, id);

CREATE TABLE notices (
	id              text PRIMARY KEY, -- the idempotency key
	seq             bigserial NOT NULL, -- enqueue order (IDs are random)
	incident_id     text NOT NULL,
	channel         text NOT NULL,
	audience        text NOT NULL,
	event           text NOT NULL,
	subject         text NOT NULL,
	text            text NOT NULL,
	payload         bytea,
	status          text NOT NULL,
	attempts        integer NOT NULL DEFAULT 0,
	last_error      text NOT NULL DEFAULT '',
	created_at      bigint NOT NULL,
	next_attempt_at bigint NOT NULL,
	sent_at         bigint NOT NULL DEFAULT 0,
	lease_owner     text NOT NULL DEFAULT '',
	lease_until     bigint NOT NULL DEFAULT 0
);
-- Only pending notices are ever claimed: keep that index small.
CREATE INDEX notices_due ON notices (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX notices_incident ON notices (incident_id, created_at, seq);

CREATE TABLE timers (
	subject     text NOT NULL,
	kind        text NOT NULL,
	due_at      bigint NOT NULL,
	lease_owner text NOT NULL DEFAULT '',
	lease_until bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (subject, kind)
);
CREATE INDEX timers_due ON timers (due_at);

CREATE TABLE deploys (
	id          bigserial PRIMARY KEY,
	client      text NOT NULL,
	site        text NOT NULL,
	at          bigint NOT NULL,
	version     text NOT NULL,
	description text NOT NULL,
	actor       text NOT NULL
);
CREATE INDEX deploys_client ON deploys (client, at DESC);

-- The webhook's deduplication: one row per alert state ever seen. Inserted with
-- ON CONFLICT DO NOTHING, so the same notification from two Alertmanagers at two replicas
-- is recorded once.
CREATE TABLE alert_events (
	key         text NOT NULL,
	fingerprint text NOT NULL,
	starts_at   bigint NOT NULL,
	status      text NOT NULL,
	PRIMARY KEY (key, fingerprint, starts_at, status)
);
`},
	{Version: 2, Name: "maintenance windows recorded through the API", SQL: `
CREATE TABLE maintenance (
	id          text PRIMARY KEY,
	client      text NOT NULL,
	sites       text NOT NULL, -- JSON array; empty: every site of the client
	start_at    bigint NOT NULL,
	end_at      bigint NOT NULL,
	description text NOT NULL,
	actor       text NOT NULL,
	created_at  bigint NOT NULL
);
CREATE INDEX maintenance_end ON maintenance (end_at);
`},
	{Version: 3, Name: "index of the clients of open incidents", SQL: `
-- The assessment of every new incident asks which other clients have open incidents.
CREATE INDEX incidents_open_clients ON incidents (client) WHERE state <> 'resolved' AND NOT drill;
`},
	{Version: 4, Name: "when alert events were recorded, to prune those of resolved alerts", SQL: `
-- Events recorded before this migration get 0, the oldest possible.
ALTER TABLE alert_events ADD COLUMN recorded_at bigint NOT NULL DEFAULT 0;
CREATE INDEX alert_events_resolved ON alert_events (recorded_at) WHERE status = 'resolved';
`},
}
