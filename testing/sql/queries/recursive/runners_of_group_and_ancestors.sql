-- Ci::Runner.belonging_to_group_and_ancestors with Gitlab::ObjectHierarchy: runners
-- linked to the group or a group above it (nothing unless the id is a group).
SELECT DISTINCT ci_runner_namespaces.runner_id FROM ci_runner_namespaces
 WHERE ci_runner_namespaces.namespace_id IN (
  WITH RECURSIVE base_and_ancestors AS (
    (SELECT namespaces.* FROM namespaces WHERE namespaces.type = 'Group' AND namespaces.id = :id)
    UNION
    (SELECT namespaces.* FROM namespaces, base_and_ancestors
      WHERE namespaces.type = 'Group' AND namespaces.id = base_and_ancestors.parent_id))
  SELECT namespaces.id FROM base_and_ancestors AS namespaces
)
