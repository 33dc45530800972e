-- fleetcompat schema 2 (PostgreSQL): as SQLite's schema 2 (guests with history, last_seen,
-- SHA-256 dedup), plus the generation shared by every replica on this database.

ALTER TABLE hosts ADD COLUMN last_seen TEXT;
ALTER TABLE hosts ADD COLUMN capacity_json TEXT;
ALTER TABLE hosts ADD COLUMN guests_rev BIGINT NOT NULL DEFAULT 0;

UPDATE hosts SET last_seen = (
    SELECT MAX(v.received_at) FROM profile_versions v WHERE v.host_id = hosts.host_id
);

CREATE TABLE guests (
    host_id  TEXT COLLATE "C" NOT NULL REFERENCES hosts(host_id) ON DELETE CASCADE,
    vm_id    TEXT COLLATE "C" NOT NULL,
    name     TEXT NOT NULL,
    vm_json  TEXT NOT NULL,
    since    TEXT NOT NULL,
    PRIMARY KEY (host_id, vm_id)
);

CREATE TABLE guest_events (
    seq      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id  TEXT COLLATE "C" NOT NULL REFERENCES hosts(host_id) ON DELETE CASCADE,
    at       TEXT NOT NULL,
    vm_id    TEXT COLLATE "C" NOT NULL,
    name     TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('appeared', 'changed', 'disappeared')),
    vm_json  TEXT
);

CREATE INDEX guest_events_host ON guest_events(host_id, seq);
CREATE INDEX profile_versions_received ON profile_versions(received_at);

-- The store's generation: bumped in the transaction of every committed change, announced on the
-- channel `fleetcompat_generation` (NOTIFY is delivered at commit), so every replica's caches
-- know within a moment that the fleet changed.
CREATE TABLE store_generation (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    value  BIGINT NOT NULL
);
INSERT INTO store_generation (id, value) VALUES (1, 1);
