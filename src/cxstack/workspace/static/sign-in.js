// The sign-in form: posts to /v1/auth/sign-in and, once signed in, goes on to the page it came for.
import { call } from "./api.js";

const form = document.getElementById("sign-in");
const error = document.getElementById("sign-in-error");

function show(message, field) {
  error.textContent = message;
  error.hidden = false;
  for (const input of form.querySelectorAll("input")) input.removeAttribute("aria-invalid");
  if (field) {
    field.setAttribute("aria-invalid", "true");
    field.focus();
  }
}

function lockedMessage(problem) {
  const until = problem.locked_until ? new Date(problem.locked_until) : null;
  const when = until && !Number.isNaN(until.getTime())
    ? until.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : "a while";
  return `Too many failed sign-ins: this account is locked until ${when}. Try again then, or reset the password.`;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const values = Object.fromEntries(new FormData(form));
  for (const name of ["tenant", "email", "password"]) {
    if (!String(values[name] ?? "").trim()) {
      const label = form.querySelector(`label[for="${name}"]`).textContent;
      show(`${label} is required.`, form.elements[name]);
      return;
    }
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  const answer = await call("POST", "/v1/auth/sign-in", {
    tenant: values.tenant.trim().toLowerCase(),
    email: values.email.trim(),
    password: values.password,
  });
  button.disabled = false;
  if (answer.ok) {
    window.location.assign(form.dataset.next || "/app");
    return;
  }
  if (answer.status === 401) {
    show("The email or password is not right (or this account cannot sign in).", form.elements.password);
  } else if (answer.status === 423) {
    show(lockedMessage(answer.body ?? {}), form.elements.password);
  } else if (answer.status === 422) {
    const field = answer.body?.field ? form.elements[answer.body.field] : null;
    show(answer.body?.detail ?? "Check the form and try again.", field ?? null);
  } else {
    show(answer.body?.detail ?? `Signing in failed (${answer.status}). Try again.`, null);
  }
});
