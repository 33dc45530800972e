-- fleetcompat schema 3 (SQLite): what changed since a generation, and each host's newest version
-- on its own row, so neither a refresh nor an upload reads profile_versions to find it.

-- The host's newest version, its number of versions and the content hash of the newest (the
-- upload compares against it), kept by every upload and retention pass.
ALTER TABLE hosts ADD COLUMN newest_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN n_versions INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN newest_hash TEXT NOT NULL DEFAULT '';
-- The store generation of the last committed change of the host (a new version, its guests or
-- capacity, its version count), set in that change's transaction, after its generation bump.
ALTER TABLE hosts ADD COLUMN changed_gen INTEGER NOT NULL DEFAULT 0;

UPDATE hosts SET
    newest_version = COALESCE((SELECT MAX(v.version) FROM profile_versions v
                               WHERE v.host_id = hosts.host_id), 0),
    n_versions = (SELECT COUNT(*) FROM profile_versions v WHERE v.host_id = hosts.host_id),
    newest_hash = COALESCE((SELECT v.content_hash FROM profile_versions v
                            WHERE v.host_id = hosts.host_id ORDER BY v.version DESC LIMIT 1), ''),
    changed_gen = (SELECT value FROM store_generation WHERE id = 1);

CREATE INDEX hosts_changed_gen ON hosts(changed_gen);

-- Hosts deleted, with the generation of their deletion (one row per host id, the last one).
CREATE TABLE host_tombstones (
    host_id      TEXT PRIMARY KEY NOT NULL,
    deleted_gen  INTEGER NOT NULL
);
CREATE INDEX host_tombstones_gen ON host_tombstones(deleted_gen);
