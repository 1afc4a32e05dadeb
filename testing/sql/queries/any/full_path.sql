-- Routable#full_path of a namespace: the path segments along traversal_ids,
-- joined by '/'. (GitLab reads routes.path; canopy has no routes table.)
SELECT string_agg(a.path, '/' ORDER BY t.ord)
  FROM namespaces n
  CROSS JOIN LATERAL unnest(n.traversal_ids) WITH ORDINALITY AS t(id, ord)
  JOIN namespaces a ON a.id = t.id
 WHERE n.id = :id
