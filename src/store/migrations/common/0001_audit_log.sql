-- The hash-chained audit log (src/audit/), in both services' databases.
-- seq is assigned by the writer: 1, 2, 3, ... with no gaps. Writers
-- serialize on the single audit_head row (SELECT ... FOR UPDATE on
-- PostgreSQL; BEGIN IMMEDIATE already covers SQLite).
CREATE TABLE audit_log (
	seq BIGINT PRIMARY KEY,
	ts TEXT NOT NULL,               -- RFC 3339 UTC with milliseconds
	actor_type TEXT NOT NULL,       -- user | api_key | system
	actor_id TEXT NOT NULL,
	action TEXT NOT NULL,
	object_type TEXT NOT NULL,
	object_id TEXT NOT NULL,
	outcome TEXT NOT NULL,          -- success | failure | denied
	ip TEXT NOT NULL,
	request_id TEXT NOT NULL,
	details TEXT NOT NULL,          -- JSON object text, never secrets
	prev_hash {{BLOB}} NOT NULL,    -- 32 bytes
	hash {{BLOB}} NOT NULL,         -- 32 bytes
	mac {{BLOB}} NOT NULL           -- 32 bytes
);

CREATE TABLE audit_head (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	seq BIGINT NOT NULL,
	hash {{BLOB}} NOT NULL
);
