// Calls to cxstack's API from a workspace page: the session cookie goes with every request, and a
// state-changing one carries the session's CSRF token (rendered into the page) in X-CSRF-Token.

export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

// Returns {ok, status, body}: body is the parsed JSON answer (a problem for an error), or null.
export async function call(method, path, body) {
  const headers = { Accept: "application/json, application/problem+json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    return { ok: false, status: 0, body: { detail: "cxstack cannot be reached: check the connection" } };
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { detail: text };
  }
  return { ok: response.ok, status: response.status, body: parsed };
}
