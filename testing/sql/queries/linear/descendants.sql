-- Namespaces::Traversal::Linear#descendants: self_and_descendants without the row.
SELECT namespaces.traversal_ids[array_length(namespaces.traversal_ids, 1)] AS id
  FROM namespaces
 WHERE namespaces.type = :'type' AND namespaces.traversal_ids @> ARRAY[:id::bigint]
   AND namespaces.id <> :id
