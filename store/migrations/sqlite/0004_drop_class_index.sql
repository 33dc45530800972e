-- No statement reads profile versions by class id (classes are computed from the newest
-- profiles in memory); the index only cost a B-tree insert per stored version.
DROP INDEX IF EXISTS profile_versions_class;
