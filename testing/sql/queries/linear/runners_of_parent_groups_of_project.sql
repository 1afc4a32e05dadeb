-- Ci::Runner.belonging_to_parent_groups_of_project: runners linked to the
-- project's group or a group above it.
SELECT DISTINCT ci_runner_namespaces.runner_id FROM ci_runner_namespaces
 WHERE ci_runner_namespaces.namespace_id IN (
   SELECT unnest(namespaces.traversal_ids)
     FROM projects
     JOIN namespaces ON namespaces.id = projects.namespace_id AND namespaces.type = 'Group'
    WHERE projects.id = :id)
