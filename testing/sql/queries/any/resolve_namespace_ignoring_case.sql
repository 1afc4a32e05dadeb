-- Routable.find_by_full_path (namespaces): the lowest-id user or group namespace
-- whose full path is :'full_path' (last segment :'last'), ignoring case as its
-- LOWER(routes.path) = LOWER(?) does, tried only when the exact texts find nothing.
SELECT n.id FROM namespaces n
 WHERE n.type IN ('User', 'Group') AND LOWER(n.path) = LOWER(:'last')
   AND LOWER((SELECT string_agg(a.path, '/' ORDER BY t.ord)
          FROM unnest(n.traversal_ids) WITH ORDINALITY AS t(id, ord)
          JOIN namespaces a ON a.id = t.id) ) = LOWER(:'full_path')
 ORDER BY n.id LIMIT 1
