"use strict";

(() => {
  const { api, el, showError, when } = imagehub;
  const PAGE = 24;
  const list = document.getElementById("history");
  const more = document.getElementById("more");
  const error = document.getElementById("history-error");
  const userId = list.dataset.userId;
  let cursor = null;

  function card(image) {
    const removed = image.moderation === "deleted"; // its files are for staff only now
    const preview = removed ? null : image.links.thumbnail || image.links.scaled || image.links.original;
    return el("li", { "data-task-id": image.task_id },
      preview ? el("a", { class: "thumb", href: image.links.original || preview, target: "_blank", rel: "noopener" },
        el("img", { src: preview, alt: image.name, loading: "lazy" })) : null,
      el("p", { class: "name" }, image.name, " ", el("span", { class: `state state-${image.state}` }, image.state),
        image.moderation ? el("span", { class: `moderation m-${image.moderation}` },
          removed ? "removed by moderation" : `moderation: ${image.moderation}`) : null),
      image.error ? el("p", { class: "error" }, image.error) : null,
      el("p", { class: "hint" }, when(image.created_at), " · ",
        el("a", { href: `/task/${encodeURIComponent(image.task_id)}`, download: true }, "task zip"),
        " · ", deleteControl(image)),
    );
  }

  // Deleting asks first, in place: the task goes whole, with every image uploaded with it.
  function deleteControl(image) {
    const holder = el("span", { class: "delete-task" });
    const ask = () => holder.replaceChildren(
      el("span", { role: "alert" }, "Delete this task, with every image uploaded with it? "),
      el("button", { type: "button", class: "danger", onclick: () => remove(image.task_id) }, "Delete"),
      " ",
      el("button", { type: "button", class: "secondary", onclick: offer }, "Keep"),
    );
    const offer = () => holder.replaceChildren(
      el("button", { type: "button", class: "secondary", onclick: ask }, "Delete task…"),
    );
    offer();
    return holder;
  }

  async function remove(taskId) {
    try {
      await api(`/task/${encodeURIComponent(taskId)}`, { method: "DELETE" });
      for (const item of [...list.children]) {
        if (item.dataset.taskId === taskId) item.remove();
      }
      document.getElementById("history-empty").hidden = list.children.length > 0;
    } catch (failure) {
      showError(error, failure);
    }
  }

  async function load() {
    more.disabled = true;
    const query = new URLSearchParams({ limit: PAGE });
    if (cursor) query.set("cursor", cursor);
    try {
      const { data, response } = await api(`/history/${encodeURIComponent(userId)}?${query}`);
      list.append(...data.map(card));
      cursor = response.headers.get("X-Next-Cursor");
      more.hidden = !cursor;
      document.getElementById("history-empty").hidden = list.children.length > 0;
    } catch (failure) {
      showError(error, failure);
    } finally {
      more.disabled = false;
    }
  }

  more.addEventListener("click", load);
  load();
})();
