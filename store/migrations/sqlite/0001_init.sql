-- fleetcompat schema 1. Portable SQL: no SQLite-only types or functions.
CREATE TABLE hosts (
    host_id     TEXT PRIMARY KEY NOT NULL,
    first_seen  TEXT NOT NULL
);

-- Every profile a host ever sent is a version; the newest is the current one.
CREATE TABLE profile_versions (
    host_id       TEXT NOT NULL REFERENCES hosts(host_id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    received_at   TEXT NOT NULL,
    collected_at  TEXT NOT NULL,
    class_id      TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    profile_json  TEXT NOT NULL,
    PRIMARY KEY (host_id, version)
);

CREATE INDEX profile_versions_class ON profile_versions(class_id);

-- Server settings (the write token's hash).
CREATE TABLE settings (
    name   TEXT PRIMARY KEY NOT NULL,
    value  TEXT NOT NULL
);
