-- fleetcompat schema 2 (SQLite): guests with history, when a host was last heard from, and the
-- profile dedup by SHA-256 (new rows hold 64 hex digits; rows of schema 1 keep their 16-digit
-- FNV-1a hash, which the store still compares against, so they keep deduplicating).

-- When the host last sent a profile, changed or not (retention keeps versions, not re-uploads).
ALTER TABLE hosts ADD COLUMN last_seen TEXT;
-- The host's capacity for guests as JSON (`shared::vms::HostCapacity`); NULL: never reported.
ALTER TABLE hosts ADD COLUMN capacity_json TEXT;
-- Bumped whenever the host's guests or capacity change, so caches know to re-read them.
ALTER TABLE hosts ADD COLUMN guests_rev INTEGER NOT NULL DEFAULT 0;

UPDATE hosts SET last_seen = (
    SELECT MAX(v.received_at) FROM profile_versions v WHERE v.host_id = hosts.host_id
);

-- The guests a host has now, one row per VM (`shared::vms::Vm` as JSON).
CREATE TABLE guests (
    host_id  TEXT NOT NULL REFERENCES hosts(host_id) ON DELETE CASCADE,
    vm_id    TEXT NOT NULL,
    name     TEXT NOT NULL,
    vm_json  TEXT NOT NULL,
    since    TEXT NOT NULL,
    PRIMARY KEY (host_id, vm_id)
);

-- What happened to them: a row when a VM appears, changes (definition, state, vCPUs, memory,
-- name) or disappears. `vm_json` is the VM as it became (NULL when it disappeared).
CREATE TABLE guest_events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id  TEXT NOT NULL REFERENCES hosts(host_id) ON DELETE CASCADE,
    at       TEXT NOT NULL,
    vm_id    TEXT NOT NULL,
    name     TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('appeared', 'changed', 'disappeared')),
    vm_json  TEXT
);

CREATE INDEX guest_events_host ON guest_events(host_id, seq);
CREATE INDEX profile_versions_received ON profile_versions(received_at);

-- The store's generation, bumped in the transaction of every committed change (one process
-- follows it on SQLite; on PostgreSQL every replica does, through NOTIFY).
CREATE TABLE store_generation (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    value  INTEGER NOT NULL
);
INSERT INTO store_generation (id, value) VALUES (1, 1);
