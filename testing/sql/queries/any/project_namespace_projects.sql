-- ProjectNamespace#all_projects: a project namespace's all_project_ids is its own project.
SELECT projects.id FROM projects WHERE projects.project_namespace_id = :id
