-- Ci::Runner.belonging_to_group_and_ancestors: runners linked to the group or a
-- group above it (Group.find_by(id:): nothing unless the id is a group).
SELECT DISTINCT ci_runner_namespaces.runner_id FROM ci_runner_namespaces
 WHERE ci_runner_namespaces.namespace_id IN (
   SELECT unnest(namespaces.traversal_ids) FROM namespaces
    WHERE namespaces.type = 'Group' AND namespaces.id = :id)
