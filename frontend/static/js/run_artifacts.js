// The run page's artifacts: the files the run logged (GET /runs/{id}/artifacts), each with
// its size and a download link; an image or a text file opens a preview inside the card
// (an <img> of the file; the first 20 KB of a text file as text in a <pre>).
//
// The server decides how a file is served (images and text inline, the rest attachments,
// never HTML or SVG); this module only ever puts file names and contents into text nodes.
// On a share link's page the secret goes in a header, never into an address: files are
// fetched with it and handed to the browser as blob: URLs, for previews and downloads alike.

import { apiUrl, fetchFile, get, isShared } from "./api.js";
import { h, replace } from "./dom.js";
import { fmtBytes, fmtInt } from "./format.js";
import { toast } from "./ui.js";

const TEXT_BYTES = 20 * 1024;
const EMPTY = "No artifacts. Log files with mlflow.log_artifact(...) (see docs/integrations.md).";

function filePath(runId, path) {
  return `/runs/${runId}/artifacts/${path.split("/").map(encodeURIComponent).join("/")}`;
}

function baseName(path) {
  return path.slice(path.lastIndexOf("/") + 1);
}

// The first `limit` bytes of an answer as text (a split character at the cut shows as �).
async function readStart(res, limit) {
  const reader = res.body.getReader();
  const chunks = [];
  let size = 0;
  while (size < limit) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
  }
  reader.cancel().catch(() => {});
  const bytes = new Uint8Array(Math.min(size, limit));
  let at = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, bytes.length - at);
    bytes.set(part, at);
    at += part.length;
  }
  return new TextDecoder("utf-8").decode(bytes);
}

export class RunArtifacts {
  constructor(card, runId) {
    this.card = card;
    this.runId = runId;
    this.list = card.querySelector("#artifacts");
    this.count = card.querySelector("#artifact-count");
    this.preview = card.querySelector("#artifact-preview");
    this.shown = null; // the path previewed
    this.objectUrl = null; // the blob: URL of the shown image (share links)
    this.loading = null; // aborts a preview still loading when another is asked for
  }

  async load() {
    let body;
    try {
      body = await get(`/runs/${this.runId}/artifacts`);
    } catch (err) {
      replace(
        this.list,
        h("div", { class: "card-body muted" }, `Could not load the artifacts: ${err.message}`),
      );
      return;
    }
    this.show(body);
  }

  show(body) {
    const { files, truncated } = body;
    this.count.textContent = files.length ? `${fmtInt(files.length)}${truncated ? "+" : ""}` : "";
    if (!files.length) {
      replace(this.list, h("div", { class: "card-body muted", id: "artifacts-empty" }, EMPTY));
      this.closePreview();
      return;
    }
    const items = files.map((f) => this.item(f));
    const more = truncated
      ? h("div", { class: "artifact-more muted" }, `The first ${fmtInt(files.length)} files, by path.`)
      : null;
    replace(this.list, h("ul", { class: "artifact-list" }, items), more);
    if (this.shown && !files.some((f) => f.path === this.shown)) this.closePreview();
    this.mark();
  }

  item(f) {
    const name = f.preview
      ? this.link(f, { class: "artifact-name", title: `Show ${f.path}` }, false, () => this.toggle(f))
      : this.link(f, { class: "artifact-name", title: `Download ${f.path}` }, true);
    name.append(f.path);
    const download = this.link(
      f,
      { class: "artifact-download", title: `Download ${f.path}`, "aria-label": `Download ${f.path}` },
      true,
    );
    download.append("↓");
    return h(
      "li",
      { dataset: { path: f.path, preview: f.preview || "" } },
      name,
      h("span", { class: "artifact-size muted" }, fmtBytes(f.size)),
      download,
    );
  }

  // A link to the file: a download, or (with `onOpen`) a preview. Signed in, a plain link
  // (the cookie goes with it); on a share link's page, a button that fetches with the header.
  link(f, props, download, onOpen) {
    const query = download ? { download: 1 } : undefined;
    if (!isShared) {
      const a = h("a", {
        ...props,
        href: apiUrl(filePath(this.runId, f.path), query),
        download: download ? baseName(f.path) : null,
      });
      if (onOpen)
        a.addEventListener("click", (event) => {
          if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
          event.preventDefault(); // a plain click previews; other clicks open the file
          onOpen();
        });
      return a;
    }
    return h("button", {
      ...props,
      type: "button",
      onclick: () => (onOpen ? onOpen() : this.saveShared(f)),
    });
  }

  async saveShared(f) {
    try {
      const res = await fetchFile(filePath(this.runId, f.path), { query: { download: 1 } });
      const url = URL.createObjectURL(await res.blob());
      const a = h("a", { href: url, download: baseName(f.path), hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (err) {
      toast(`Could not download ${f.path}: ${err.message}`, { kind: "error" });
    }
  }

  toggle(f) {
    if (this.shown === f.path) this.closePreview();
    else this.open(f);
  }

  mark() {
    for (const li of this.list.querySelectorAll("li[data-path]"))
      li.classList.toggle("selected", li.dataset.path === this.shown);
  }

  closePreview() {
    this.loading?.abort();
    this.loading = null;
    this.shown = null;
    this.forgetObjectUrl();
    this.preview.hidden = true;
    replace(this.preview);
    this.mark();
  }

  forgetObjectUrl() {
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = null;
  }

  async open(f) {
    this.loading?.abort();
    const loading = (this.loading = new AbortController());
    this.shown = f.path;
    this.mark();
    const close = h(
      "button",
      { class: "btn btn-sm", type: "button", id: "artifact-close", onclick: () => this.closePreview() },
      "Close",
    );
    const body = h("div", { class: "artifact-preview-body" }, h("div", { class: "skeleton line" }));
    replace(
      this.preview,
      h("div", { class: "artifact-preview-head" }, h("b", { class: "mono" }, f.path), close),
      body,
    );
    this.preview.hidden = false;
    try {
      const content = f.preview === "image" ? await this.image(f, loading) : await this.text(f, loading);
      if (loading.signal.aborted) return;
      replace(body, content);
    } catch (err) {
      if (err.name === "AbortError" || loading.signal.aborted) return;
      replace(body, h("div", { class: "muted" }, `Could not load ${f.path}: ${err.message}`));
    }
  }

  async image(f, loading) {
    this.forgetObjectUrl();
    let src = apiUrl(filePath(this.runId, f.path));
    if (isShared) {
      const res = await fetchFile(filePath(this.runId, f.path), { signal: loading.signal });
      const blob = await res.blob();
      if (loading.signal.aborted) return null;
      src = this.objectUrl = URL.createObjectURL(blob);
    }
    const img = h("img", { src, alt: f.path, id: "artifact-image" });
    img.addEventListener("error", () => {
      if (this.shown === f.path) img.replaceWith(h("div", { class: "muted" }, "The image does not load."));
    });
    return img;
  }

  async text(f, loading) {
    if (f.size === 0) return h("div", { class: "muted", id: "artifact-text" }, "The file is empty.");
    const res = await fetchFile(filePath(this.runId, f.path), {
      headers: { Range: `bytes=0-${TEXT_BYTES - 1}` },
      signal: loading.signal,
    });
    const text = await readStart(res, TEXT_BYTES);
    const pre = h("pre", { class: "artifact-text", id: "artifact-text" });
    pre.textContent = text; // a text node: nothing in the file is markup here
    if (f.size <= TEXT_BYTES) return pre;
    const rest = `The first 20 KB of ${fmtBytes(f.size)}; download the file for the rest.`;
    return [pre, h("div", { class: "muted artifact-cut" }, rest)];
  }
}
