"use strict";

(() => {
  const { api, el, showError, hideError } = imagehub;
  const STATUSES = ["new", "review", "accepted", "deleted"];
  const form = document.getElementById("days-form");
  const error = document.getElementById("statistics-error");

  function draw(name, counts, days, what) {
    const items = STATUSES.map((status) => ({ label: status, value: counts[status], className: `bar-${status}` }));
    const label = `${what} in the last ${days} days: ` + items.map((i) => `${i.label} ${i.value}`).join(", ");
    imagehubCharts.bars(document.getElementById(`${name}-chart`), items, label);
    document.querySelector(`#${name}-table tbody`).replaceChildren(
      ...items.map((item) => el("tr", { "data-status": item.label }, el("td", {}, item.label), el("td", {}, item.value.toLocaleString()))),
      el("tr", {}, el("th", { scope: "row" }, "total"), el("td", {}, items.reduce((s, i) => s + i.value, 0).toLocaleString())),
    );
  }

  function drawDaily(trend, days) {
    const total = (counts) => STATUSES.reduce((sum, status) => sum + counts[status], 0);
    const dates = trend.days.map((d) => d.date.slice(5)); // MM-DD: short enough for a phone
    const added = trend.days.map((d) => total(d.created));
    const decided = trend.days.map((d) => d.changed.accepted + d.changed.deleted);
    const label = `Images added and decided per day over the last ${days} days; backlog now ${trend.backlog}`;
    imagehubCharts.lines(document.getElementById("daily-chart"), dates,
      [{ label: "added", values: added }, { label: "decided", values: decided }], label);
    document.getElementById("backlog").textContent = trend.backlog.toLocaleString();
    document.querySelector("#daily-table tbody").replaceChildren(...trend.days.map((d, n) =>
      el("tr", {}, el("td", {}, d.date), el("td", {}, added[n].toLocaleString()), el("td", {}, decided[n].toLocaleString()))));
  }

  async function load() {
    hideError(error);
    const days = document.getElementById("days").value || "30";
    history.replaceState(null, "", `?days=${encodeURIComponent(days)}`);
    try {
      const [created, changed, daily] = await Promise.all([
        api(`/statistics?days=${encodeURIComponent(days)}`),
        api(`/images/stats/?days=${encodeURIComponent(days)}`),
        api(`/images/stats/daily?days=${encodeURIComponent(days)}`),
      ]);
      draw("created", created.data, days, "Images added");
      draw("changed", changed.data, days, "Images changed");
      drawDaily(daily.data, days);
    } catch (failure) {
      showError(error, failure);
    }
  }

  const wanted = new URLSearchParams(location.search).get("days");
  if (wanted) document.getElementById("days").value = wanted;
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  load();
})();
