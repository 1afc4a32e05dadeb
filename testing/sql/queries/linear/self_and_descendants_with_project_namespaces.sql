-- self_and_descendant_ids(skope: Namespace): every type below, project namespaces too.
SELECT namespaces.id FROM namespaces WHERE namespaces.traversal_ids @> ARRAY[:id::bigint]
