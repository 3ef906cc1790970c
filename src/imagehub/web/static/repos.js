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

  const HISTORY_STATES = {
    pending: "History before tracking: waiting to be read from GitHub.",
    running: "History before tracking: being read from GitHub; the chart fills in as it is.",
    done: "History before tracking: reconstructed from GitHub's lists of stargazers and forks (dashed).",
    estimated: "History before tracking: reconstructed (dashed); some days past what GitHub lists are estimated (shaded).",
  };

  async function showHistoryState(user) {
    const note = document.getElementById("history-state");
    try {
      const { history } = (await api(`/v1/users/${user.id}`)).data;
      note.textContent = `${HISTORY_STATES[history.state]} ${history.finished} of ${history.repositories} repositories read.`;
      note.hidden = false;
    } catch {
      note.hidden = true;  // the chart still shows what there is
    }
  }

  async function choose(user) {
    chosenUser = user;
    showHistoryState(user);
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
    const query = new URLSearchParams({ include: "history" });
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
    const totals = document.getElementById("repo-totals");
    if (!repo || mine.length === 0) {
      chart.replaceChildren(el("p", { class: "hint" }, "No numbers for these days yet."));
      body.replaceChildren();
      totals.replaceChildren();
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
    const kinds = days.map((day) => (byDay.has(day) ? byDay.get(day).source : "scan"));
    imagehubCharts.lines(chart, days, series,
      `${repo.full_name}: stars, forks and watchers from ${days[0]} to ${days[days.length - 1]}`, kinds);
    totals.replaceChildren(...gained(mine));
    body.replaceChildren(...mine.map((row) => el("tr", { class: row.source }, el("td", {}, row.date),
      el("td", {}, row.stargazers), el("td", {}, row.forks), watchersCell(row.watchers),
      el("td", {}, SOURCES[row.source]))));
  }

  const SOURCES = { scan: "daily reading", reconstructed: "reconstructed", estimated: "estimated" };

  // Each total on the last day shown, with what it gained over the day and the week before.
  function gained(mine) {
    const byDay = new Map(mine.map((row) => [row.date, row]));
    const last = mine[mine.length - 1];
    const back = (days) => byDay.get(isoDay(new Date(new Date(`${last.date}T00:00:00Z`).getTime() - days * DAY)));
    const change = (earlier, key) => {
      if (!earlier || earlier[key] === null || last[key] === null) return "–";
      const delta = last[key] - earlier[key];
      return `${delta >= 0 ? "+" : "−"}${Math.abs(delta).toLocaleString()}`;
    };
    return [["Stars", "stargazers"], ["Forks", "forks"], ["Watchers", "watchers"]].flatMap(([label, key]) => [
      el("dt", {}, label),
      el("dd", {}, el("strong", {}, last[key] === null ? "–" : last[key].toLocaleString()),
        el("span", { class: "hint" }, ` ${change(back(1), key)} a day · ${change(back(7), key)} a week`)),
    ]);
  }

  // A range ending today, `days` long (the API answers a year at most).
  function showLast(days) {
    const today = new Date();
    document.getElementById("date-to").value = isoDay(today);
    document.getElementById("date-from").value = isoDay(new Date(today.getTime() - (days - 1) * DAY));
    for (const button of document.querySelectorAll("#presets button")) {
      button.setAttribute("aria-pressed", String(button.dataset.days === String(days)));
    }
  }

  // null: GitHub listed the repository but did not show its details that day.
  function watchersCell(watchers) {
    if (watchers !== null) return el("td", {}, watchers);
    return el("td", { title: "not read: GitHub did not show this repository's details that day" }, "–");
  }

  showLast(30);
  for (const button of document.querySelectorAll("#presets button")) {
    button.addEventListener("click", () => { showLast(Number(button.dataset.days)); if (chosenUser) loadStats(); });
  }
  range.addEventListener("submit", (event) => {
    event.preventDefault();
    for (const button of document.querySelectorAll("#presets button")) button.setAttribute("aria-pressed", "false");
    loadStats();
  });
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
