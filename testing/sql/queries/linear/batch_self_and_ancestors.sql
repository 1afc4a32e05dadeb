-- self_and_ancestors of many namespaces in one statement: one row per id found,
-- with its traversal_ids (root first).
SELECT namespaces.id, namespaces.traversal_ids FROM namespaces
 WHERE namespaces.id = ANY(:ids::bigint[])
