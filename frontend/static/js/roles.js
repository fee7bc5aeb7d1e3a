// What the caller may do on the page's project, as the server rendered it into the page
// (base.html: data-can-edit, data-can-own). Write controls are drawn only when allowed;
// the API checks every write again, so these only keep viewers from dead buttons.

export const canEdit = document.body.dataset.canEdit === "true";
export const canOwn = document.body.dataset.canOwn === "true";

// The compare page spans projects: data-edit-projects lists those the caller may save to
// ("*": every project).
export function mayEditProject(projectId) {
  const list = document.body.dataset.editProjects || "";
  return list === "*" || list.split(",").includes(String(projectId));
}
