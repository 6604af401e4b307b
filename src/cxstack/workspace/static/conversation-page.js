// A conversation's page: the header (server-rendered, kept current here), the live timeline and the
// composer, over one Conversation model.
import { CxComposer, Draft } from "./composer.js";
import { Conversation, CxTimeline } from "./conversation.js";
import { wireSignOut } from "./top.js";

customElements.define("cx-timeline", CxTimeline);
customElements.define("cx-composer", CxComposer);

const main = document.getElementById("main");
const conversation = new Conversation(main.dataset.conversationId, main.dataset.userId);

conversation.addEventListener("conversation", (event) => {
  const c = event.detail;
  const status = document.getElementById("conversation-status");
  status.textContent = c.status;
  status.dataset.status = c.status;
  document.getElementById("conversation-channel").textContent = c.channel;
  document.getElementById("conversation-priority").textContent = c.priority;
});

document.querySelector("cx-timeline").model = conversation;
const composer = document.querySelector("cx-composer");
composer.model = conversation;
composer.prepare(new Draft(conversation.userId, conversation.id), main.dataset.role);
conversation.start();

wireSignOut(() => conversation.feed.stop());
