-- Namespaces::Traversal::Linear#self_and_descendant_ids, scoped to the caller's
-- class (Group.where(...): a group's descendants are groups). The id is read
-- from traversal_ids so a group's answer is an index-only scan of
-- index_namespaces_on_traversal_ids_for_groups_btree.
SELECT namespaces.traversal_ids[array_length(namespaces.traversal_ids, 1)] AS id
  FROM namespaces
 WHERE namespaces.type = :'type' AND namespaces.traversal_ids @> ARRAY[:id::bigint]
