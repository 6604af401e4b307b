// The agent workspace page: the inbox column (the agent socket and the conversations API behind it), and
// one desk (the routing socket and the API behind it) shown by the header's presence switch and the main
// area's offers and work.
import { CxAgentDesk, CxPresence } from "./components.js";
import { Desk } from "./desk.js";
import { CxInbox, Inbox } from "./inbox.js";
import { wireSignOut } from "./top.js";

customElements.define("cx-presence", CxPresence);
customElements.define("cx-agent-desk", CxAgentDesk);
customElements.define("cx-inbox", CxInbox);

const main = document.querySelector("cx-agent-desk");
const desk = new Desk(main.getAttribute("user-id"));
main.desk = desk;
document.querySelector("cx-presence").desk = desk;
desk.start();

const inbox = new Inbox();
document.querySelector("cx-inbox").model = inbox;
inbox.start();

wireSignOut(() => {
  desk.feed.stop();
  inbox.feed.stop();
});
