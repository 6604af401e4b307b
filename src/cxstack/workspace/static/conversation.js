// One conversation as its page knows it: the conversation, and its timeline (messages and internal notes,
// in order). The agent socket (/ws/agent) brings new messages and status changes live; entries are kept
// by id, so a message that comes both as a frame and in an answer shows once. Each time the socket opens
// again (its `welcome`), the messages are read again and merged, so that nothing sent meanwhile is missed.
// A call answered 401 marks the session ended: the page says so and keeps what was typed.
import { html, nothing } from "lit";
import { call } from "./api.js";
import { shownMentions, signInAgainUrl, timeOf } from "./format.js";
import { ModelElement } from "./model-element.js";
import { RoutingFeed } from "./routing-feed.js";

const PAGE = 200;
// Why a socket is refused when its session cookie no longer signs anyone in.
const SIGNED_OUT = new Set(["unauthorized", "session_invalid", "auth_expected"]);

// What kind of entry a message is: the customer's, an agent's, the system's (or a bot's), or internal.
function kindOf(message) {
  if (message.visibility === "internal") return "internal";
  if (message.direction === "inbound") return "customer";
  return message.author_kind === "agent" ? "agent" : "system";
}

export class Conversation extends EventTarget {
  constructor(id, userId) {
    super();
    this.id = id;
    this.userId = userId;
    this.conversation = null;
    this.entries = new Map();
    this.loaded = false;
    this.connection = "connecting";
    this.sessionEnded = false;
    this.problem = "";
    this.feed = new RoutingFeed("/ws/agent", "welcome");
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }

  async start() {
    this.feed.addEventListener("frame", (event) => this.#onFrame(event.detail));
    this.feed.addEventListener("state", (event) => {
      this.connection = event.detail;
      this.changed();
    });
    this.feed.addEventListener("refused", (event) => {
      if (SIGNED_OUT.has(event.detail.code)) return this.endSession();
      this.problem = event.detail.detail ?? "The live connection was refused: reload the page.";
      this.changed();
    });
    // Every welcome (the first one too) reads the timeline again: what came before the socket listened
    // is in that answer.
    this.feed.start();
    await Promise.all([this.refreshConversation(), this.readTimeline()]);
  }

  endSession() {
    this.sessionEnded = true;
    this.feed.stop();
    this.changed();
  }

  // Calls the API; a 401 ends the session here (and the caller keeps what it had).
  async call(method, path, body) {
    const answer = await call(method, path, body);
    if (answer.status === 401) this.endSession();
    return answer;
  }

  async refreshConversation() {
    const answer = await this.call("GET", `/v1/conversations/${encodeURIComponent(this.id)}`);
    if (answer.ok) this.#take(answer.body);
  }

  #take(conversation) {
    this.conversation = conversation;
    this.dispatchEvent(new CustomEvent("conversation", { detail: conversation }));
    this.changed();
  }

  async #readAll(path) {
    const found = [];
    let cursor = null;
    do {
      const join = path.includes("?") ? "&" : "?";
      const page = await this.call("GET", `${path}${join}limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      if (!page.ok) return null;
      found.push(...page.body.data);
      cursor = page.body.next_cursor;
    } while (cursor);
    return found;
  }

  async readTimeline() {
    const id = encodeURIComponent(this.id);
    const [messages, notes] = await Promise.all([
      this.#readAll(`/v1/conversations/${id}/messages`),
      this.#readAll(`/v1/notes?target_type=conversation&target_id=${id}`),
    ]);
    if (messages === null || notes === null) {
      if (!this.sessionEnded) this.problem = "The timeline could not be read: reload the page.";
    } else {
      for (const message of messages) this.addMessage(message);
      for (const note of notes) this.addNote(note);
      this.loaded = true;
      this.problem = "";
    }
    this.changed();
  }

  addMessage(message) {
    this.entries.set(message.id, {
      id: message.id,
      kind: kindOf(message),
      author: message.direction === "inbound" ? "Customer" : this.#agent(message.author_id, message.author_kind),
      body: message.body,
      at: message.created_at,
      delivery: message.delivery ?? null,
    });
    this.changed();
  }

  addNote(note) {
    this.entries.set(note.id, {
      id: note.id,
      kind: "note",
      author: note.author === `user:${this.userId}` ? "You" : "A teammate",
      body: shownMentions(note.body),
      at: note.created_at,
      delivery: null,
    });
    this.changed();
  }

  // Who wrote an outbound message, when the entry's kind does not say it already.
  #agent(authorId, kind) {
    if (authorId === this.userId) return "You";
    return kind === "bot" ? "Bot" : null;
  }

  timeline() {
    // By time (answers and frames write it differently), then by id (ids grow with time).
    const at = (entry) => new Date(entry.at).getTime();
    return [...this.entries.values()].sort((a, b) => at(a) - at(b) || (a.id < b.id ? -1 : 1));
  }

  #onFrame(frame) {
    if (frame.type === "welcome") {
      this.readTimeline();
      this.refreshConversation();
    } else if (frame.type === "message" && frame.message.conversation_id === this.id) {
      this.addMessage(frame.message);
    } else if (frame.type === "conversation" && frame.data?.conversation_id === this.id) {
      this.refreshConversation();
    }
  }

  async reply(body, clientId) {
    const answer = await this.call("POST", `/v1/conversations/${encodeURIComponent(this.id)}/messages`, {
      direction: "outbound",
      body,
      author_id: this.userId,
      client_id: clientId,
    });
    if (answer.ok) this.addMessage(answer.body);
    return answer;
  }

  async note(body) {
    const answer = await this.call("POST", "/v1/notes", { target_type: "conversation", target_id: this.id, body });
    if (answer.ok) this.addNote(answer.body);
    return answer;
  }

  // "pending", "snoozed" and "open" are set; "closed" closes and "reopen" reopens.
  async setStatus(status) {
    const id = encodeURIComponent(this.id);
    const answer =
      status === "closed"
        ? await this.call("POST", `/v1/conversations/${id}/close`, {})
        : status === "reopen"
          ? await this.call("POST", `/v1/conversations/${id}/reopen`, {})
          : await this.call("PATCH", `/v1/conversations/${id}`, { status });
    if (answer.ok) this.#take(answer.body);
    return answer;
  }
}

// The session-ended notice, with the link that signs in again and comes back here.
export const sessionEndedNotice = () => html`
  <p class="error session-ended" role="alert" id="session-ended">
    Your session ended: <a href=${signInAgainUrl()}>sign in again</a>. What you typed is kept.
  </p>`;

const KINDS = { customer: "Customer", agent: "Agent", system: "System", internal: "Internal", note: "Internal note" };

// The timeline: every entry in order, the customer's, agents', internal ones and notes each marked.
export class CxTimeline extends ModelElement {
  #entry(entry) {
    return html`
      <li class="entry entry-${entry.kind}" data-entry-id=${entry.id} data-kind=${entry.kind}>
        <p class="entry-meta">
          <span class="entry-kind">${KINDS[entry.kind]}</span>
          ${entry.author && entry.kind !== "customer" ? html`<span class="entry-author">${entry.author}</span>` : nothing}
          <time datetime=${entry.at}>${timeOf(entry.at)}</time>
        </p>
        <p class="entry-body">${entry.body}</p>
        ${entry.delivery
          ? html`<p class="entry-delivery error">Not delivered: ${entry.delivery.detail}</p>`
          : nothing}
      </li>`;
  }

  render() {
    const c = this.model;
    if (!c) return html`<p class="muted">Loading the messages…</p>`;
    const status = { connecting: "Connecting…", open: "Live", reconnecting: "Connection lost: reconnecting…", refused: "Not connected" }[c.connection];
    const entries = c.timeline();
    return html`
      <p class="connection" id="connection" data-state=${c.connection}>${status}</p>
      ${c.problem ? html`<p class="error" role="alert">${c.problem}</p>` : nothing}
      ${!c.loaded
        ? html`<p class="muted">Loading the messages…</p>`
        : entries.length === 0
          ? html`<p class="muted empty">No messages yet.</p>`
          : nothing}
      <div role="log" aria-label="Messages and notes">
        <ol class="timeline">${entries.map((entry) => this.#entry(entry))}</ol>
      </div>`;
  }

  updated(changed) {
    super.updated(changed);
    this.querySelector(".timeline > li:last-child")?.scrollIntoView({ block: "nearest" });
  }
}
