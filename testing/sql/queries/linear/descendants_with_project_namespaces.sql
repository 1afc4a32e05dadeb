-- descendants(skope: Namespace): every type below, without the row.
SELECT namespaces.id FROM namespaces
 WHERE namespaces.traversal_ids @> ARRAY[:id::bigint] AND namespaces.id <> :id
