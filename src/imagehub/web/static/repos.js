"use strict";

(() => {
  const { api, el, showError, hideError } = imagehub;
  const DAY = 24 * 60 * 60 * 1000;
  const list = document.getElementById("tracked");
  const error = document.getElementById("repos-error");
  const panel = document.getElementById("stats");
  const range = document.getElementById("range");
  const repoSelect = document.getElementById("repo");
  const isoDay = (date) => date.toISOString().slice(0, 10);
  let chosenUser = null;
  let rows = [];
  let repos = [];

  function userButton(user) {
    const scanned = user.scanned_on ? `scanned ${user.scanned_on}` : "not scanned yet";
    return el("li", {}, el("button", {
      type: "button", "data-id": user.id, "aria-pressed": "false", onclick: () => choose(user),
    }, user.login, el("span", { class: "hint" }, user.scan_error ? `${scanned} · last try failed` : scanned)));
  }

  async function loadUsers() {
    try {
      const { data } = await api("/v1/users");
      list.replaceChildren(...data.map(userButton));
      document.getElementById("tracked-empty").hidden = data.length > 0;
      if (data.length && !chosenUser) choose(data[0]);
    } catch (failure) {
      showError(error, failure);
    }
  }

  async function choose(user) {
    chosenUser = user;
    for (const button of list.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.id === String(user.id)));
    }
    document.getElementById("stats-title").textContent = `Repositories of ${user.login}`;
    panel.hidden = false;
    try {
      repos = (await api(`/v1/users/${user.id}/repos`)).data;
      // Most starred first: the one people look for.
      const ordered = [...repos].sort((a, b) => b.stargazers - a.stargazers || a.full_name.localeCompare(b.full_name));
      repoSelect.replaceChildren(...ordered.map((repo) => el("option", { value: repo.id }, repo.full_name)));
      await loadStats();
    } catch (failure) {
      showError(error, failure);
    }
  }

  async function loadStats() {
    hideError(error);
    const query = new URLSearchParams();
    const from = document.getElementById("date-from").value;
    const to = document.getElementById("date-to").value;
    if (from) query.set("date_from", from);
    if (to) query.set("date_to", to);
    try {
      rows = (await api(`/v1/users/${chosenUser.id}/stats?${query}`)).data.stats;
      draw();
    } catch (failure) {
      showError(error, failure);
    }
  }

  function draw() {
    const repoId = Number(repoSelect.value);
    const repo = repos.find((r) => r.id === repoId);
    const mine = rows.filter((row) => row.repo_id === repoId);
    const chart = document.getElementById("repo-chart");
    const body = document.querySelector("#repo-table tbody");
    if (!repo || mine.length === 0) {
      chart.replaceChildren(el("p", { class: "hint" }, "No numbers for these days yet."));
      body.replaceChildren();
      return;
    }
    // Every day of the range on the axis; a day without a scan is a gap, not a zero.
    const first = new Date(`${document.getElementById("date-from").value || mine[0].date}T00:00:00Z`);
    const last = new Date(`${document.getElementById("date-to").value || mine[mine.length - 1].date}T00:00:00Z`);
    const byDay = new Map(mine.map((row) => [row.date, row]));
    const days = [];
    for (let t = first.getTime(); t <= last.getTime() && days.length < 3660; t += DAY) days.push(isoDay(new Date(t)));
    const series = [["Stars", "stargazers"], ["Forks", "forks"], ["Watchers", "watchers"]].map(([label, key]) => ({
      label, values: days.map((day) => (byDay.has(day) ? byDay.get(day)[key] : null)),
    }));
    imagehubCharts.lines(chart, days, series,
      `${repo.full_name}: stars, forks and watchers from ${days[0]} to ${days[days.length - 1]}`);
    body.replaceChildren(...mine.map((row) => el("tr", {},
      el("td", {}, row.date), el("td", {}, row.stargazers), el("td", {}, row.forks), watchersCell(row.watchers))));
  }

  // null: GitHub listed the repository but did not show its details that day.
  function watchersCell(watchers) {
    if (watchers !== null) return el("td", {}, watchers);
    return el("td", { title: "not read: GitHub did not show this repository's details that day" }, "–");
  }

  const today = new Date();
  document.getElementById("date-to").value = isoDay(today);
  document.getElementById("date-from").value = isoDay(new Date(today.getTime() - 29 * DAY));
  range.addEventListener("submit", (event) => { event.preventDefault(); loadStats(); });
  repoSelect.addEventListener("change", draw);

  const trackForm = document.getElementById("track-form");
  if (trackForm) {
    trackForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      hideError(error);
      const login = document.getElementById("login").value.trim();
      try {
        const { data } = await api("/v1/users", { method: "POST", json: { login } });
        document.getElementById("login").value = "";
        await loadUsers();
        choose(data);
      } catch (failure) {
        showError(error, failure);
      }
    });
  }
  loadUsers();
})();
