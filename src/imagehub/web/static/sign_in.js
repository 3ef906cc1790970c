"use strict";

(() => {
  const { api, showError, hideError } = imagehub;

  // Only our own pages are a place to go back to (no open redirect).
  function next() {
    const wanted = new URLSearchParams(location.search).get("next") || "";
    return /^\/app\/[a-z-]+$/.test(wanted) ? wanted : "/app/upload";
  }

  async function signIn(email, password) {
    await api("/session", { method: "POST", json: { email, password } });
    location.assign(next());
  }

  const signInForm = document.getElementById("sign-in-form");
  signInForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("sign-in-error");
    hideError(error);
    const form = new FormData(signInForm);
    try {
      await signIn(form.get("email"), form.get("password"));
    } catch (failure) {
      showError(error, failure);
    }
  });

  const registerForm = document.getElementById("register-form");
  registerForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("register-error");
    hideError(error);
    const form = new FormData(registerForm);
    const account = { email: form.get("email"), password: form.get("password") };
    for (const name of ["first_name", "last_name"]) {
      if (form.get(name)) account[name] = form.get(name);
    }
    try {
      await api("/registration", { method: "POST", json: account });
      await signIn(account.email, account.password);
    } catch (failure) {
      showError(error, failure);
    }
  });
})();
