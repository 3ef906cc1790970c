"use strict";

(() => {
  const { api, el, showError, hideError, bytes } = imagehub;
  const VARIANTS = ["original", "rotated", "gray", "scaled"];
  const FINISHED = ["done", "failed", "partial"];
  const POLL_MS = 600;

  const form = document.getElementById("upload-form");
  const input = document.getElementById("files");
  const drop = document.getElementById("drop-zone");
  const list = document.getElementById("chosen");
  const button = document.getElementById("upload-button");
  const error = document.getElementById("upload-error");
  let chosen = [];
  // One Idempotency-Key per choice of files and group: sending the same again (its answer
  // lost, a second click) gets the task it made; any change makes it a new upload.
  let uploadKey = null;
  let keyedGroup = null;

  function keyFor(group) {
    if (uploadKey === null || group !== keyedGroup) {
      // getRandomValues works on plain http too (randomUUID needs a secure context).
      const random = crypto.getRandomValues(new Uint8Array(16));
      uploadKey = Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("");
      keyedGroup = group;
    }
    return uploadKey;
  }

  function render(refusals = new Map()) {
    list.replaceChildren(
      ...chosen.map((file, index) =>
        el("li", {},
          el("span", { class: "name" }, file.name),
          el("span", { class: "hint" }, bytes(file.size)),
          el("button", {
            type: "button", class: "secondary", "aria-label": `Remove ${file.name}`,
            onclick: () => { chosen.splice(index, 1); uploadKey = null; render(); },
          }, "Remove"),
          refusals.has(file.name) ? el("p", { class: "error" }, refusals.get(file.name)) : null,
        ),
      ),
    );
    button.disabled = chosen.length === 0;
  }

  function add(files) {
    chosen = chosen.concat(Array.from(files));
    uploadKey = null;
    hideError(error);
    render();
  }

  input.addEventListener("change", () => { add(input.files); input.value = ""; });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => { event.preventDefault(); add(event.dataTransfer.files); });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    hideError(error);
    const body = new FormData();
    for (const file of chosen) body.append("files", file, file.name);
    const group = document.getElementById("group").value.trim();
    if (group) body.append("group", group);
    button.disabled = true;
    try {
      const headers = { "Idempotency-Key": keyFor(group) };
      const { data } = await api("/upload", { method: "POST", form: body, headers });
      chosen = [];
      uploadKey = null;
      render();
      follow(data);
    } catch (failure) {
      // The server names every refused file and why; show each next to its file.
      const refusals = new Map((failure.body?.files || []).map((f) => [f.name, f.reason]));
      render(refusals);
      showError(error, failure);
    }
  });

  const section = document.getElementById("task");
  const status = document.getElementById("task-status");
  const progress = document.getElementById("task-progress");
  const zip = document.getElementById("task-zip");
  const images = document.getElementById("task-images");

  function show(task) {
    section.hidden = false;
    section.dataset.status = task.status;
    const finished = task.done + task.failed;
    status.textContent = `${task.status}: ${finished} of ${task.total} image(s) processed` +
      (task.failed ? `, ${task.failed} failed` : "");
    status.className = `status status-${task.status}`;
    progress.max = task.total;
    progress.value = finished;
    zip.hidden = !FINISHED.includes(task.status);
    document.getElementById("zip-link").href = `/task/${encodeURIComponent(task.task_id)}`;
    images.replaceChildren(...task.images.map(imageCard));
  }

  function imageCard(image) {
    // One small thumbnail drawn four ways (turned, gray) stands for the four files, each a
    // click away at full size: the page never pulls the full images. Until the worker has
    // made it, the files are links only (an image processed before thumbnails existed
    // shows its files themselves).
    const removed = image.moderation === "deleted"; // its files are for staff only now
    const thumbnail = image.links.thumbnail;
    const pictured = !removed && (thumbnail || image.state === "done");
    return el("li", {},
      el("p", { class: "name" }, image.name, " ", el("span", { class: `state state-${image.state}` }, image.state),
        image.moderation ? el("span", { class: `moderation m-${image.moderation}` },
          removed ? "removed by moderation" : `moderation: ${image.moderation}`) : null),
      image.error ? el("p", { class: "error" }, image.error) : null,
      el("div", { class: "variants" },
        VARIANTS.filter((v) => image.links[v]).map((variant) =>
          el("a", { href: image.links[variant], target: "_blank", rel: "noopener" },
            pictured ? el("img", {
              src: thumbnail || image.links[variant],
              class: thumbnail ? `preview-${variant}` : "",
              alt: `${image.name}, ${variant}`, loading: "lazy",
            }) : null,
            variant,
          ),
        ),
      ),
    );
  }

  async function follow(task) {
    show(task);
    while (!FINISHED.includes(task.status)) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      try {
        task = (await api(`/status/${encodeURIComponent(task.task_id)}`)).data;
        show(task);
      } catch (failure) {
        showError(error, failure);
        return;
      }
    }
  }

  render();
})();
