"use strict";

(() => {
  const { api, el, showError, hideError, when } = imagehub;
  const STATUSES = ["new", "review", "accepted", "deleted"];
  const KEYS = { n: "new", r: "review", a: "accepted", d: "deleted" };
  const PAGE = 20;

  const container = document.getElementById("groups");
  const filter = document.getElementById("status-filter");
  const more = document.getElementById("more-groups");
  const error = document.getElementById("moderation-error");
  let cursor = null;
  let loading = false;
  let generation = 0; // a newer filter makes answers to older requests stale

  function bytes(count) {
    if (count < 1000) return `${count} B`;
    if (count < 1_000_000) return `${(count / 1000).toFixed(0)} kB`;
    return `${(count / 1_000_000).toFixed(1)} MB`;
  }

  function tile(image, group) {
    const node = el("li", {
      class: "tile", tabindex: 0, "data-id": image.id, "data-status": image.status,
      "aria-label": `Image ${image.id} in ${group.name}, ${image.status}`,
    },
      el("a", { class: "thumb", href: image.url, target: "_blank", rel: "noopener", tabindex: -1 },
        el("img", { src: image.thumbnail_url || image.url, alt: `Image ${image.id} of group ${group.name}`, loading: "lazy" })),
      el("div", { class: "actions", role: "group", "aria-label": "Status" },
        STATUSES.map((status) => el("button", {
          type: "button", class: `s-${status}`, "data-status": status,
          "aria-pressed": String(status === image.status),
          onclick: () => change(node, status),
        }, status)),
        el("button", { type: "button", class: "history", onclick: () => history(image.id) }, "history"),
      ),
      image.upload ? el("p", { class: "upload" },
        el("span", { class: "name" }, image.upload.name), " ",
        el("span", { class: "hint" },
          `${image.upload.width}×${image.upload.height}, ${bytes(image.upload.size_bytes)}, ` +
          `by ${image.upload.uploaded_by || "a deleted account"}`)) : null,
      el("p", { class: "meta" },
        el("label", { class: "select" },
          el("input", { type: "checkbox", class: "pick", "aria-label": `Select image ${image.id}`,
            onclick: (event) => pick(node, event.shiftKey) }),
          `#${image.id}`),
        ` · added ${when(image.created_at)}`),
    );
    node.addEventListener("keydown", (event) => {
      if (event.target !== node || event.ctrlKey || event.metaKey || event.altKey) return;
      const key = event.key.toLowerCase();
      if (KEYS[key]) { event.preventDefault(); change(node, KEYS[key]); }
      else if (key === "h") { event.preventDefault(); history(image.id); }
      else if (key === "x") { event.preventDefault(); const box = node.querySelector(".pick"); box.checked = !box.checked; pick(node, event.shiftKey); }
      else if (["arrowright", "arrowdown", "arrowleft", "arrowup"].includes(key)) {
        event.preventDefault();
        const tiles = [...container.querySelectorAll(".tile")];
        const step = key === "arrowright" || key === "arrowdown" ? 1 : -1;
        tiles[Math.max(0, Math.min(tiles.length - 1, tiles.indexOf(node) + step))]?.focus();
      }
    });
    return node;
  }

  function groupSection(group) {
    const section = el("section", { class: "group card", "aria-label": `Group ${group.name}` },
      el("h2", {}, group.name, el("span", { class: "hint" }, `${group.count} shown of ${group.total}`),
        el("button", { type: "button", class: "select-group", onclick: () => pickGroup(section) },
          `Select the ${group.count} shown`)),
      el("ul", { class: "tiles" }, group.images.map((image) => tile(image, group))),
    );
    return section;
  }

  function shown(node, status) {
    node.dataset.status = status;
    for (const button of node.querySelectorAll("button[data-status]")) {
      button.setAttribute("aria-pressed", String(button.dataset.status === status));
    }
    node.setAttribute("aria-label", node.getAttribute("aria-label").replace(/, \w+$/, `, ${status}`));
  }

  async function change(node, status) {
    hideError(error);
    const id = node.dataset.id;
    try {
      await api(`/images/${encodeURIComponent(id)}`, { method: "PUT", json: { status } });
      shown(node, status);
    } catch (failure) {
      showError(error, failure);
    }
  }

  // --- Several at once: pick tiles (click, shift-click for a run, x on a focused tile, a
  // group's button), then one status for all of them in one request.
  const bulk = document.getElementById("bulk");
  const bulkCount = document.getElementById("bulk-count");
  let lastPicked = null;

  function picked() {
    return [...container.querySelectorAll(".tile")].filter((t) => t.querySelector(".pick").checked);
  }

  function pick(node, extend) {
    const tiles = [...container.querySelectorAll(".tile")];
    if (extend && lastPicked && tiles.includes(lastPicked)) {
      const [from, to] = [tiles.indexOf(lastPicked), tiles.indexOf(node)].sort((a, b) => a - b);
      const checked = node.querySelector(".pick").checked;
      for (const t of tiles.slice(from, to + 1)) t.querySelector(".pick").checked = checked;
    }
    lastPicked = node;
    showPicked();
  }

  function pickGroup(section) {
    const boxes = [...section.querySelectorAll(".pick")];
    const all = boxes.every((box) => box.checked);
    for (const box of boxes) box.checked = !all;
    showPicked();
  }

  function showPicked() {
    const count = picked().length;
    bulk.hidden = count === 0;
    bulkCount.textContent = `${count} image(s) selected`;
    for (const t of container.querySelectorAll(".tile")) t.classList.toggle("picked", t.querySelector(".pick").checked);
  }

  async function changeMany(status) {
    hideError(error);
    const tiles = picked();
    try {
      await api("/images/status", { method: "PUT", json: { ids: tiles.map((t) => Number(t.dataset.id)), status } });
      for (const t of tiles) { shown(t, status); t.querySelector(".pick").checked = false; }
      showPicked();
    } catch (failure) {
      showError(error, failure);
    }
  }

  for (const button of bulk.querySelectorAll("button[data-status]")) {
    button.addEventListener("click", () => changeMany(button.dataset.status));
  }
  document.getElementById("bulk-clear").addEventListener("click", () => {
    for (const box of container.querySelectorAll(".pick")) box.checked = false;
    showPicked();
  });

  async function history(id) {
    const dialog = document.getElementById("history-dialog");
    const rows = document.getElementById("history-rows");
    try {
      const { data } = await api(`/images/${encodeURIComponent(id)}/history`);
      rows.replaceChildren(...(data.length ? data.map((change) => el("tr", {},
        el("td", {}, when(change.changed_at)), el("td", {}, change.from_status),
        el("td", {}, change.to_status), el("td", {}, change.changed_by || "—"),
      )) : [el("tr", {}, el("td", { colspan: 4 }, "No changes yet."))]));
      document.getElementById("history-title").textContent = `Status history of image #${id}`;
      dialog.showModal();
    } catch (failure) {
      showError(error, failure);
    }
  }

  async function load() {
    if (loading) return;
    loading = true;
    more.disabled = true;
    const asked = generation;
    const query = new URLSearchParams({ limit: PAGE });
    if (filter.value) query.set("status", filter.value);
    if (cursor) query.set("cursor", cursor);
    try {
      const { data, response } = await api(`/groups?${query}`);
      if (asked !== generation) return;
      container.append(...data.map(groupSection));
      cursor = response.headers.get("X-Next-Cursor");
      more.hidden = !cursor;
      document.getElementById("groups-empty").hidden = container.children.length > 0;
    } catch (failure) {
      showError(error, failure);
    } finally {
      loading = false;
      more.disabled = false;
    }
  }

  function restart() {
    generation += 1;
    cursor = null;
    loading = false;
    container.replaceChildren();
    showPicked();
    hideError(error);
    load();
  }

  filter.addEventListener("change", restart);
  document.getElementById("filter").addEventListener("submit", (event) => { event.preventDefault(); restart(); });
  more.addEventListener("click", load);
  // More groups as the end of the page comes into view (the button stays for keyboards).
  new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting) && cursor) load();
  }, { rootMargin: "400px" }).observe(document.getElementById("sentinel"));
  load();
})();
