// The agent workspace page: one desk (the routing socket and the API behind it) shown by the header's
// presence switch and the main area's offers and work.
import { call } from "./api.js";
import { CxAgentDesk, CxPresence } from "./components.js";
import { Desk } from "./desk.js";

customElements.define("cx-presence", CxPresence);
customElements.define("cx-agent-desk", CxAgentDesk);

const main = document.querySelector("cx-agent-desk");
const desk = new Desk(main.getAttribute("user-id"));
main.desk = desk;
document.querySelector("cx-presence").desk = desk;
desk.start();

document.getElementById("sign-out").addEventListener("submit", async (event) => {
  event.preventDefault();
  desk.feed.stop();
  await call("POST", "/v1/auth/sign-out");
  location.assign("/app/sign-in");
});
