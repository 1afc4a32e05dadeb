-- Routable.find_by_full_path (projects): the lowest-id project of a user or group namespace
-- whose full path is :'full_path' (last segment :'last'), ignoring case as its
-- LOWER(routes.path) = LOWER(?) does, tried only when the exact texts find nothing.
SELECT p.id FROM projects p
  JOIN namespaces n ON n.id = p.namespace_id AND n.type IN ('User', 'Group')
 WHERE LOWER(p.path) = LOWER(:'last')
   AND LOWER((SELECT string_agg(a.path, '/' ORDER BY t.ord)
          FROM unnest(n.traversal_ids) WITH ORDINALITY AS t(id, ord)
          JOIN namespaces a ON a.id = t.id) || '/' || p.path) = LOWER(:'full_path')
 ORDER BY p.id LIMIT 1
