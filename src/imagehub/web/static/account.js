"use strict";

(() => {
  const { api, showError, hideError, bytes } = imagehub;
  const error = document.getElementById("delete-error");

  const of = (used, quota, shown = String) => (quota === null ? shown(used) : `${shown(used)} of ${shown(quota)}`);

  async function load() {
    try {
      const { data } = await api("/users/me");
      document.getElementById("bytes-stored").textContent = of(data.usage.bytes_stored, data.quotas.bytes_stored, bytes);
      document.getElementById("images-today").textContent = of(data.usage.images_today, data.quotas.images_per_day);
    } catch (failure) {
      showError(error, failure);
    }
  }

  document.getElementById("delete-account").addEventListener("submit", async (event) => {
    event.preventDefault();
    hideError(error);
    const password = document.getElementById("delete-password").value;
    try {
      await api("/users/me", { method: "DELETE", json: { password } });
    } catch (failure) {
      showError(error, failure);
      return;
    }
    try {
      await api("/session", { method: "DELETE" }); // forget the cookie of an account that is gone
    } finally {
      location.assign("/app/sign-in");
    }
  });

  load();
})();
