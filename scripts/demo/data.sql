-- scripts/demo/data.sql — a small GitLab-shaped forest for scripts/run, made with
-- generate_series (deterministic: the same ids every run).
--
--   psql -v scale=1 -f testing/sql/gitlab_schema.sql -f testing/sql/gitlab_indexes.sql \
--     -f testing/sql/gitlab_constraints.sql -f scripts/demo/data.sql
--
-- scale (1..100, default 1) multiplies everything generated; the named rows
-- below keep their ids at every scale. At scale 1: ~3,100 groups, 5,000 user
-- namespaces, ~10,000 projects (each with its type='Project' namespace row),
-- so ~18,000 namespaces in all.
--
-- Named rows (fixed ids):
--   9970      gitlab-org                   root group (GitLab.com's real id)
--   9971      gitlab-org/gitlab            its first subgroup (9971..9990 are
--                                          gitlab-org's level-2 groups at scale 1)
--   1000001   gitlab-org/gitlab/area-1     a level-3 group with 3 subgroups
--   3000001   org-1                        another root group
--   7001      deep                         root of a 21-level chain:
--   7021      deep/level-02/.../level-21   its leaf (20 ancestors, GitLab's limit)
--   6000001   user-1                       a user namespace
--   projects: 278964 gitlab-org/gitlab/gitlab; 1..21 one per level of the deep
--             chain (21 = in the leaf).
--   runners:  1,2,3 on gitlab-org; 4,5 on gitlab-org/gitlab; 6 on deep;
--             7 on deep/.../level-10; 8 on the leaf; 9 on org-1; 1000+ on
--             every 10th generated group.
--
-- Id ranges: level-2/3/4 groups of gitlab-org 9971+, 1000001+, 2000001+;
-- other roots 3000001+, their subgroups 4000001+, sub-subgroups 5000001+;
-- user namespaces 6000001+; project namespaces 10000000 + project id;
-- projects 1000001+ (gitlab-org), 2000001+ (other groups), 3000001+ (users).

\set ON_ERROR_STOP on
\if :{?scale}
\else
  \set scale 1
\endif

SELECT (:scale)::int BETWEEN 1 AND 100 AS scale_ok \gset
\if :scale_ok
\else
  \echo 'data.sql: scale must be 1..100'
  \quit
\endif

BEGIN;

CREATE TEMP TABLE demo_sizes AS
SELECT 20 * s AS l2, 200 * s AS l3, 500 * s AS l4,
       300 * s AS roots, 1200 * s AS subs, 900 * s AS subsubs,
       5000 * s AS users,
       4000 * s AS org_projects, 3000 * s AS other_projects, 3000 * s AS user_projects
FROM (SELECT (:scale)::int AS s) x;

-- ---- groups and users ----------------------------------------------------------

CREATE TEMP TABLE g (id bigint, parent_id bigint, type text, name text, path text,
                     visibility_level int, owner_id bigint);

-- The deep chain: deep, deep/level-02, ..., deep/.../level-21.
INSERT INTO g
SELECT 7000 + i, CASE WHEN i = 1 THEN NULL ELSE 7000 + i - 1 END, 'Group',
       CASE WHEN i = 1 THEN 'Deep' ELSE 'Level ' || lpad(i::text, 2, '0') END,
       CASE WHEN i = 1 THEN 'deep' ELSE 'level-' || lpad(i::text, 2, '0') END, 20, NULL
FROM generate_series(1, 21) i;

-- gitlab-org and its three levels of subgroups.
INSERT INTO g VALUES (9970, NULL, 'Group', 'GitLab.org', 'gitlab-org', 20, NULL);
INSERT INTO g
SELECT 9970 + i, 9970, 'Group', initcap(p), p, 20, NULL
FROM demo_sizes, generate_series(1, l2) i,
     LATERAL (SELECT COALESCE((ARRAY['gitlab', 'charts', 'frontend', 'security', 'quality',
                                     'distribution', 'ci-cd', 'infrastructure'])[i],
                              'team-' || lpad(i::text, 3, '0')) AS p) n;
INSERT INTO g
SELECT 1000000 + i, 9970 + (i - 1) % l2 + 1, 'Group', 'Area ' || i, 'area-' || i,
       CASE WHEN i % 7 = 0 THEN 0 ELSE 20 END, NULL
FROM demo_sizes, generate_series(1, l3) i;
INSERT INTO g
SELECT 2000000 + i, 1000000 + (i - 1) % l3 + 1, 'Group', 'Component ' || i, 'component-' || i,
       CASE WHEN i % 5 = 0 THEN 0 ELSE 20 END, NULL
FROM demo_sizes, generate_series(1, l4) i;

-- Other root groups with two levels of subgroups.
INSERT INTO g
SELECT 3000000 + i, NULL, 'Group', 'Org ' || i, 'org-' || i, (ARRAY[0, 10, 20])[i % 3 + 1], NULL
FROM demo_sizes, generate_series(1, roots) i;
INSERT INTO g
SELECT 4000000 + i, 3000000 + (i - 1) % roots + 1, 'Group', 'Team ' || i, 'team-' || i,
       (ARRAY[0, 10, 20])[i % 3 + 1], NULL
FROM demo_sizes, generate_series(1, subs) i;
INSERT INTO g
SELECT 5000000 + i, 4000000 + (i - 1) % subs + 1, 'Group', 'Squad ' || i, 'squad-' || i,
       (ARRAY[0, 10, 20])[i % 3 + 1], NULL
FROM demo_sizes, generate_series(1, subsubs) i;

-- User namespaces (never have a parent).
INSERT INTO g
SELECT 6000000 + i, NULL, 'User', 'User ' || i, 'user-' || i, 20, i
FROM demo_sizes, generate_series(1, users) i;

-- ---- projects --------------------------------------------------------------------

CREATE TEMP TABLE p (id bigint, namespace_id bigint, name text, path text,
                     visibility_level int, archived bool, pending_delete bool);

INSERT INTO p VALUES (278964, 9971, 'GitLab', 'gitlab', 20, false, false);
INSERT INTO p
SELECT i, 7000 + i, 'Project ' || i, 'project-' || i, 20, false, false
FROM generate_series(1, 21) i;

-- Projects spread over the groups of a subtree: project j goes to the group at
-- position (j * 7919) mod n of the subtree's groups in id order (deterministic).
CREATE TEMP TABLE org_groups AS
SELECT row_number() OVER (ORDER BY id) - 1 AS k, id FROM g
WHERE id = 9970 OR (id > 9970 AND id < 3000000);
CREATE TEMP TABLE other_groups AS
SELECT row_number() OVER (ORDER BY id) - 1 AS k, id FROM g
WHERE id > 3000000 AND id < 6000000;

INSERT INTO p
SELECT 1000000 + j, og.id, 'Project ' || j, 'project-' || j,
       CASE WHEN j % 4 = 0 THEN 0 ELSE 20 END, j % 10 = 3, j % 97 = 5
FROM demo_sizes, generate_series(1, org_projects) j
JOIN org_groups og ON og.k = (j::bigint * 7919) % (SELECT count(*) FROM org_groups);
INSERT INTO p
SELECT 2000000 + j, og.id, 'Project ' || j, 'project-' || j,
       (ARRAY[0, 10, 20])[j % 3 + 1], j % 10 = 3, j % 97 = 5
FROM demo_sizes, generate_series(1, other_projects) j
JOIN other_groups og ON og.k = (j::bigint * 7919) % (SELECT count(*) FROM other_groups);
INSERT INTO p
SELECT 3000000 + j, 6000000 + 1 + (j::bigint * 7919) % (users / 2), 'Project ' || j,
       'project-' || j, (ARRAY[0, 20])[j % 2 + 1], j % 10 = 3, false
FROM demo_sizes, generate_series(1, user_projects) j;

-- ---- into GitLab's tables --------------------------------------------------------

-- Groups and users first, with traversal_ids = '{}' (GitLab fills it after the
-- INSERT; the recursive UPDATE below does the same for the whole forest).
INSERT INTO namespaces (id, name, path, owner_id, type, visibility_level, parent_id,
                        created_at, updated_at)
SELECT id, name, path, owner_id, type, visibility_level, parent_id,
       timestamp '2020-01-01' + id % 1000 * interval '1 day', now()
FROM g ORDER BY id;

-- Each project's own namespace row: type 'Project', parent = the project's group
-- or user namespace, id 10000000 + project id.
INSERT INTO namespaces (id, name, path, type, visibility_level, parent_id, created_at, updated_at)
SELECT 10000000 + id, name, path, 'Project', visibility_level, namespace_id,
       timestamp '2021-01-01' + id % 1000 * interval '1 day', now()
FROM p ORDER BY id;

INSERT INTO projects (id, name, path, description, namespace_id, project_namespace_id,
                      visibility_level, archived, pending_delete, star_count, created_at,
                      updated_at, last_activity_at)
SELECT id, name, path, 'demo project ' || id, namespace_id, 10000000 + id, visibility_level,
       archived, pending_delete, (id % 50)::int,
       timestamp '2021-01-01' + id % 1000 * interval '1 day', now(), now()
FROM p ORDER BY id;

WITH RECURSIVE tree AS (
  SELECT id, ARRAY[id] AS ids FROM namespaces WHERE parent_id IS NULL
  UNION ALL
  SELECT n.id, tree.ids || n.id FROM namespaces n JOIN tree ON n.parent_id = tree.id
)
UPDATE namespaces SET traversal_ids = tree.ids FROM tree WHERE namespaces.id = tree.id;

-- ---- group runners -----------------------------------------------------------------

INSERT INTO ci_runner_namespaces (id, runner_id, namespace_id) VALUES
  (1, 1, 9970), (2, 2, 9970), (3, 3, 9970), (4, 4, 9971), (5, 5, 9971),
  (6, 6, 7001), (7, 7, 7010), (8, 8, 7021), (9, 9, 3000001);
INSERT INTO ci_runner_namespaces (id, runner_id, namespace_id)
SELECT 100 + row_number() OVER (ORDER BY id), 1000 + row_number() OVER (ORDER BY id), id
FROM (SELECT id, row_number() OVER (ORDER BY id) AS k FROM g
      WHERE type = 'Group' AND id > 9970 AND id < 6000000) x
WHERE k % 10 = 0;

COMMIT;

ANALYZE namespaces;
ANALYZE projects;
ANALYZE ci_runner_namespaces;

SELECT (SELECT count(*) FROM namespaces) AS namespaces,
       (SELECT count(*) FROM namespaces WHERE type = 'Group') AS groups,
       (SELECT count(*) FROM namespaces WHERE type = 'User') AS users,
       (SELECT count(*) FROM namespaces WHERE type = 'Project') AS project_namespaces,
       (SELECT count(*) FROM projects) AS projects,
       (SELECT count(*) FROM ci_runner_namespaces) AS runner_links;
