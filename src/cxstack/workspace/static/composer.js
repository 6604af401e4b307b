// The composer of a conversation page: a reply to the customer (on the conversation's channel) or an
// internal note (with @mentions of teammates), canned responses rendered for this conversation, and the
// status buttons. What is typed is kept in localStorage per person and conversation until it is sent, so
// it outlives a reload and a session that ended (the page says to sign in again, and the draft is back
// once signed in).
import { html, nothing } from "lit";
import { call } from "./api.js";
import { sessionEndedNotice } from "./conversation.js";
import { ModelElement } from "./model-element.js";

const MENTION_TYPED = /(^|\s)@([^\s@[\]()]{0,40})$/;

export class Draft {
  constructor(userId, conversationId) {
    this.key = `cxstack:draft:${userId}:${conversationId}`;
    const kept = this.#read();
    this.mode = kept.mode === "note" ? "note" : "reply";
    this.body = typeof kept.body === "string" ? kept.body : "";
    this.clientId = kept.clientId || crypto.randomUUID();
  }

  #read() {
    try {
      return JSON.parse(localStorage.getItem(this.key) ?? "{}") ?? {};
    } catch {
      return {};
    }
  }

  save() {
    if (this.body) {
      localStorage.setItem(this.key, JSON.stringify({ mode: this.mode, body: this.body, clientId: this.clientId }));
    } else {
      localStorage.removeItem(this.key);
    }
  }

  // Sent: the next message is a new one (a new client id, so that a retry is never taken for it).
  sent() {
    this.body = "";
    this.clientId = crypto.randomUUID();
    this.save();
  }
}

export class CxComposer extends ModelElement {
  static properties = { ...ModelElement.properties, state: { state: true } };

  constructor() {
    super();
    this.state = { sending: false, message: "", error: "", suggestions: [], missing: [] };
    this.people = null; // null: not offered (the person may not list users)
    this.canned = [];
  }

  // Called once the model is set: the draft, the canned responses and, for those who may list the
  // tenant's users (supervisors and admins), the people to suggest for an @mention.
  async prepare(draft, role) {
    this.draft = draft;
    this.requestUpdate();
    const listsUsers = role === "supervisor" || role === "admin";
    const [people, canned] = await Promise.all([
      listsUsers ? call("GET", "/v1/users?disabled=false&limit=200") : null,
      call("GET", "/v1/canned-responses?limit=200"),
    ]);
    if (people?.ok) this.people = people.body.data.filter((p) => p.id !== this.model.userId);
    if (canned.ok) this.canned = canned.body.data;
    this.requestUpdate();
  }

  #set(changes) {
    this.state = { ...this.state, ...changes };
  }

  get #text() {
    return this.querySelector("#composer-text");
  }

  #typed(event) {
    this.draft.body = event.target.value;
    this.draft.save();
    this.#suggest();
  }

  #suggest() {
    const text = this.#text;
    const typed = this.draft.mode === "note" && this.people ? MENTION_TYPED.exec(text.value.slice(0, text.selectionStart)) : null;
    const words = typed ? typed[2].toLowerCase() : null;
    const suggestions =
      words === null
        ? []
        : this.people.filter((p) => p.name.toLowerCase().includes(words) || p.email.startsWith(words)).slice(0, 6);
    this.#set({ suggestions });
  }

  #insert(text, replacing = 0) {
    const area = this.#text;
    const at = area.selectionStart ?? area.value.length;
    const before = area.value.slice(0, at - replacing);
    area.value = before + text + area.value.slice(at);
    area.selectionStart = area.selectionEnd = before.length + text.length;
    this.draft.body = area.value;
    this.draft.save();
    area.focus();
  }

  #mention(person) {
    const area = this.#text;
    const typed = MENTION_TYPED.exec(area.value.slice(0, area.selectionStart));
    this.#insert(`@[${person.name}](${person.id}) `, typed ? typed[2].length + 1 : 0);
    this.#set({ suggestions: [] });
  }

  #mode(mode) {
    this.draft.mode = mode;
    this.draft.save();
    this.#set({ suggestions: [], message: "", error: "" });
  }

  async #useCanned() {
    const id = this.querySelector("#canned").value;
    if (!id) return this.#set({ error: "Choose a canned response first." });
    const answer = await this.model.call("POST", `/v1/canned-responses/${encodeURIComponent(id)}/render`, {
      conversation_id: this.model.id,
    });
    if (!answer.ok) return this.#set({ error: this.#why(answer, "The canned response could not be rendered") });
    this.#insert(answer.body.body);
    this.#set({ error: "", missing: answer.body.missing });
  }

  #why(answer, doing) {
    if (answer.status === 401) return "";
    return `${doing}: ${answer.body?.detail ?? answer.status}.`;
  }

  async #send(event) {
    event?.preventDefault();
    const body = this.#text.value;
    if (!body.trim()) return this.#set({ error: "Write something first.", message: "" });
    const conversation = this.model;
    this.#set({ sending: true, error: "", message: "" });
    const note = this.draft.mode === "note";
    const answer = note ? await conversation.note(body) : await conversation.reply(body, this.draft.clientId);
    if (answer.ok) {
      this.draft.sent();
      this.#text.value = "";
      this.#set({ sending: false, missing: [], suggestions: [], message: note ? "Note added." : "Reply sent." });
    } else {
      this.#set({ sending: false, error: this.#why(answer, note ? "The note was not added" : "The reply was not sent") });
    }
  }

  async #status(status, done) {
    const answer = await this.model.setStatus(status);
    this.#set(answer.ok ? { message: done, error: "" } : { error: this.#why(answer, "The status did not change"), message: "" });
  }

  #keydown(event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) this.#send(event);
    if (event.key === "Escape") this.#set({ suggestions: [] });
  }

  #statusButtons(status) {
    const button = (to, text, done, secondary = true) =>
      html`<button type="button" class=${secondary ? "secondary" : ""} data-status=${to}
        @click=${() => this.#status(to, done)}>${text}</button>`;
    if (status === "closed") return button("reopen", "Reopen", "Reopened.", false);
    return html`
      ${status !== "open" ? button("open", "Mark open", "Marked open.") : nothing}
      ${status !== "pending" ? button("pending", "Mark pending", "Marked pending: waiting on the customer.") : nothing}
      ${status !== "snoozed" ? button("snoozed", "Snooze", "Snoozed.") : nothing}
      ${button("closed", "Resolve", "Resolved and closed.", false)}`;
  }

  render() {
    const conversation = this.model;
    const draft = this.draft;
    if (!conversation || !draft) return html`<p class="muted">Loading the composer…</p>`;
    const { sending, message, error, suggestions, missing } = this.state;
    const channel = conversation.conversation?.channel ?? "";
    const note = draft.mode === "note";
    return html`
      ${conversation.sessionEnded ? sessionEndedNotice() : nothing}
      <form class="composer" id="composer" @submit=${(e) => this.#send(e)}>
        <fieldset class="modes">
          <legend>Write</legend>
          <label><input type="radio" name="mode" value="reply" .checked=${!note} @change=${() => this.#mode("reply")}>
            Reply to the customer${channel ? ` (${channel})` : ""}</label>
          <label><input type="radio" name="mode" value="note" .checked=${note} @change=${() => this.#mode("note")}>
            Internal note</label>
        </fieldset>
        <label for="composer-text" class="visually-hidden">${note ? "Your note" : "Your reply"}</label>
        <textarea id="composer-text" rows="4" class=${note ? "note-mode" : ""} .value=${draft.body}
          aria-describedby="composer-hint" @input=${(e) => this.#typed(e)} @keydown=${(e) => this.#keydown(e)}
          @click=${() => this.#suggest()}></textarea>
        <p id="composer-hint" class="hint">
          ${note
            ? this.people
              ? "Only your team sees notes. Type @ and a name to mention a teammate."
              : "Only your team sees notes. Mention a teammate with @ and their email address."
            : "The customer gets this on their channel."}
          Ctrl+Enter sends.
        </p>
        ${suggestions.length
          ? html`<ul class="suggestions" aria-label="Teammates to mention">
              ${suggestions.map(
                (p) => html`<li><button type="button" class="secondary suggestion" @click=${() => this.#mention(p)}>
                  ${p.name} <span class="muted">${p.email}</span></button></li>`,
              )}
            </ul>`
          : nothing}
        <div class="composer-actions">
          <button type="submit" id="composer-send" ?disabled=${sending}>${note ? "Add note" : "Send reply"}</button>
          ${this.canned.length
            ? html`<label class="canned"><span>Canned response</span>
                <select id="canned">
                  <option value="">Choose…</option>
                  ${this.canned.map((c) => html`<option value=${c.id}>${c.name} (${c.shortcut})</option>`)}
                </select></label>
                <button type="button" class="secondary" id="canned-insert" @click=${() => this.#useCanned()}>Insert</button>`
            : nothing}
        </div>
        ${missing.length ? html`<p class="hint" id="canned-missing">No value for: ${missing.join(", ")}.</p>` : nothing}
        ${error ? html`<p class="error" role="alert" id="composer-error">${error}</p>` : nothing}
        <p class="visually-hidden" role="status" id="composer-status">${message}</p>
      </form>
      <div class="status-actions" role="group" aria-label="Conversation status">
        ${this.#statusButtons(conversation.conversation?.status)}
      </div>`;
  }
}
