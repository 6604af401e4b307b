// The header every signed-in page shares: its Sign out button ends the session and goes to sign in.
import { call } from "./api.js";

export function wireSignOut(beforeLeaving = () => {}) {
  document.getElementById("sign-out")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    beforeLeaving();
    await call("POST", "/v1/auth/sign-out");
    location.assign("/app/sign-in");
  });
}
