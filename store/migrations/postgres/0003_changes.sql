-- fleetcompat schema 3 (PostgreSQL): as SQLite's schema 3 (each host's newest version on its
-- row, the generation of its last change, tombstones of deleted hosts).

ALTER TABLE hosts ADD COLUMN newest_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN n_versions BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN newest_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN changed_gen BIGINT NOT NULL DEFAULT 0;

UPDATE hosts SET
    newest_version = COALESCE((SELECT MAX(v.version) FROM profile_versions v
                               WHERE v.host_id = hosts.host_id), 0),
    n_versions = (SELECT COUNT(*) FROM profile_versions v WHERE v.host_id = hosts.host_id),
    newest_hash = COALESCE((SELECT v.content_hash FROM profile_versions v
                            WHERE v.host_id = hosts.host_id ORDER BY v.version DESC LIMIT 1), ''),
    changed_gen = (SELECT value FROM store_generation WHERE id = 1);

CREATE INDEX hosts_changed_gen ON hosts(changed_gen);

CREATE TABLE host_tombstones (
    host_id      TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    deleted_gen  BIGINT NOT NULL
);
CREATE INDEX host_tombstones_gen ON host_tombstones(deleted_gen);
