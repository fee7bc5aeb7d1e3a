// Cancel and re-run, shared by the runs table and the run page.

import { post } from "./api.js";
import { h } from "./dom.js";
import { canEdit } from "./roles.js";
import { confirmButton, toast } from "./ui.js";

export async function cancelRun(run) {
  try {
    const updated = await post(`/runs/${run.id}/cancel`);
    const text = updated.status === "cancelled" ? "cancelled" : "stopping at its next heartbeat";
    toast(`${run.name}: ${text}.`);
    return updated;
  } catch (err) {
    toast(`Could not cancel ${run.name}: ${err.message}`, { kind: "error" });
    return null;
  }
}

export async function rerun(run) {
  try {
    const created = await post(`/runs/${run.id}/rerun`);
    toast(`Queued ${created.name}.`, { link: { href: `/runs/${created.id}`, text: "Open" } });
    for (const warning of created.warnings || []) toast(warning, { kind: "error", ms: 9000 });
    return created;
  } catch (err) {
    toast(`Could not re-run ${run.name}: ${err.message}`, { kind: "error" });
    return null;
  }
}

// Buttons for one run; `changed` runs after an action succeeds (to refresh the view).
export function runActionButtons(row, changed, { small = true } = {}) {
  const size = small ? " btn-sm" : "";
  const buttons = [];
  if (!canEdit) return buttons; // a viewer
  if (row.can_cancel) {
    buttons.push(
      confirmButton(
        "Cancel",
        "Confirm cancel",
        async () => {
          if (await cancelRun(row.run)) changed();
        },
        `btn btn-danger${size}`,
      ),
    );
  }
  if (row.can_rerun) {
    const button = h("button", { class: `btn${size}`, type: "button" }, "Re-run");
    button.addEventListener("click", async (event) => {
      event.stopPropagation();
      button.disabled = true;
      if (await rerun(row.run)) changed();
      button.disabled = false;
    });
    buttons.push(button);
  }
  return buttons;
}
