-- Profiles (10 KB of JSON each) are TOASTed and compressed on every insert; PostgreSQL's default
-- pglz was among the top costs of ingest at 100,000 hosts (BENCHMARKS.md, "Scale"). lz4
-- compresses several times faster. Only where this PostgreSQL was built with lz4: the same test
-- PostgreSQL's own regression suite makes (src/test/regress/sql/compression.sql: lz4 among
-- `default_toast_compression`'s enumvals; the setting exists from PostgreSQL 14, where
-- `ALTER COLUMN .. SET COMPRESSION` came). Rows already stored keep their compression; new ones
-- use lz4.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND enumvals @> '{lz4}') THEN
        ALTER TABLE profile_versions ALTER COLUMN profile_json SET COMPRESSION lz4;
    END IF;
END
$$;
