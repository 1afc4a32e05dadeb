-- Ci::Runner.belonging_to_group: runners linked to exactly this namespace id.
SELECT DISTINCT ci_runner_namespaces.runner_id FROM ci_runner_namespaces
 WHERE ci_runner_namespaces.namespace_id = :id
