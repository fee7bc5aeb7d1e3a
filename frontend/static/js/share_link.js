// The Share button of the run page, the sweep page and a project's saved comparisons: it
// creates a read-only link (POST /shares) and shows it once, to copy; the secret is not kept
// anywhere else. Buttons marked data-share-kind / data-share-object are wired on load.

import { post } from "./api.js";
import { h, replace } from "./dom.js";
import { fmtDateTime } from "./format.js";
import { toast } from "./ui.js";

const NOUN = { run: "this run", comparison: "this comparison", sweep: "this sweep's report" };

function shown(created, box) {
  const url = `${location.origin}${created.url}`;
  const input = h("input", {
    type: "text",
    readonly: true,
    value: url,
    id: "share-url",
    "aria-label": "Share link",
    style: { flex: "1", minWidth: "0" },
  });
  const copy = h("button", { class: "btn btn-sm", type: "button", id: "share-copy" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(url);
      toast("Share link copied.");
    } catch {
      input.select();
      toast("Select the link and copy it.", { ms: 9000 });
    }
  });
  replace(
    box,
    h(
      "div",
      { class: "callout info share-created", style: { marginBottom: "16px" } },
      h(
        "div",
        {},
        h("b", {}, "Read-only link created. "),
        `Anyone with it sees ${NOUN[created.kind]} without signing in, until ${fmtDateTime(created.expires_at)}. `,
        "It is shown once: copy it now. Project owners can revoke it on the project's Share links page.",
      ),
      h("div", { style: { display: "flex", gap: "8px", marginTop: "8px" } }, input, copy),
    ),
  );
  input.select();
}

export async function createShare(kind, objectId, box, button = null) {
  if (button) button.disabled = true;
  try {
    const created = await post("/shares", { kind, object_id: Number(objectId) });
    shown(created, box);
  } catch (err) {
    toast(`Could not create a share link: ${err.message}`, { kind: "error" });
  } finally {
    if (button) button.disabled = false;
  }
}

function resultBox() {
  let box = document.getElementById("share-created");
  if (!box) {
    box = h("div", { id: "share-created" });
    document.querySelector("main")?.prepend(box);
  }
  return box;
}

for (const button of document.querySelectorAll("button[data-share-kind]")) {
  button.addEventListener("click", () =>
    createShare(button.dataset.shareKind, button.dataset.shareObject, resultBox(), button),
  );
}
