-- fleetcompat schema 1 (PostgreSQL): the tables of SQLite's schema 1, with 64-bit integers
-- (the store reads every number as i64) and bytewise ordering of ids (COLLATE "C"), so both
-- databases list hosts in the same order.
CREATE TABLE hosts (
    host_id     TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    first_seen  TEXT NOT NULL
);

-- Every profile a host ever sent is a version; the newest is the current one.
CREATE TABLE profile_versions (
    host_id       TEXT COLLATE "C" NOT NULL REFERENCES hosts(host_id) ON DELETE CASCADE,
    version       BIGINT NOT NULL,
    received_at   TEXT NOT NULL,
    collected_at  TEXT NOT NULL,
    class_id      TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    profile_json  TEXT NOT NULL,
    PRIMARY KEY (host_id, version)
);

CREATE INDEX profile_versions_class ON profile_versions(class_id);

-- Server settings (token hashes).
CREATE TABLE settings (
    name   TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    value  TEXT NOT NULL
);
