// The run page's Export links: every stored point of the run at full resolution, as CSV or
// Parquet (GET /api/v1/runs/{id}/export?format=...). Signed in, they are plain links: the
// sign-in cookie goes with them and the browser saves the streamed file itself, however
// large. On a share link's page the secret may only travel in a header, never in an
// address, so a click fetches the file with it and hands it to the browser as a blob: URL
// (the artifacts card does the same).

import { fetchFile, isShared } from "./api.js";
import { h } from "./dom.js";
import { toast } from "./ui.js";

const runId = document.body.dataset.runId;

async function saveShared(link) {
  const format = link.dataset.format;
  try {
    const res = await fetchFile(`/runs/${runId}/export`, { query: { format } });
    const url = URL.createObjectURL(await res.blob());
    const a = h("a", { href: url, download: link.getAttribute("download"), hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (err) {
    toast(`Could not export the metrics: ${err.message}`, { kind: "error" });
  }
}

if (isShared) {
  for (const link of document.querySelectorAll("#run-export a[data-format]")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      saveShared(link);
    });
  }
}
