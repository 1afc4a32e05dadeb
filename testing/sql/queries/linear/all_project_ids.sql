-- Namespace#all_project_ids: projects whose namespace is the row or a descendant
-- of its class (archived and pending_delete included). A project namespace's
-- answer is project_namespace_projects.sql (ProjectNamespace#all_projects).
SELECT projects.id FROM projects WHERE projects.namespace_id IN (
  SELECT namespaces.traversal_ids[array_length(namespaces.traversal_ids, 1)]
    FROM namespaces
   WHERE namespaces.type = :'type' AND namespaces.traversal_ids @> ARRAY[:id::bigint])
