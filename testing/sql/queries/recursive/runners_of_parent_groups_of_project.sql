-- Ci::Runner.belonging_to_parent_groups_of_project with Gitlab::ObjectHierarchy:
-- runners linked to the project's group or a group above it.
SELECT DISTINCT ci_runner_namespaces.runner_id FROM ci_runner_namespaces
 WHERE ci_runner_namespaces.namespace_id IN (
  WITH RECURSIVE base_and_ancestors AS (
    (SELECT namespaces.* FROM namespaces INNER JOIN projects ON projects.namespace_id = namespaces.id
       WHERE namespaces.type = 'Group' AND projects.id = :id)
    UNION
    (SELECT namespaces.* FROM namespaces, base_and_ancestors
      WHERE namespaces.type = 'Group' AND namespaces.id = base_and_ancestors.parent_id))
  SELECT namespaces.id FROM base_and_ancestors AS namespaces
)
