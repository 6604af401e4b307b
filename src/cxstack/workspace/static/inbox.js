// The inbox column of /app: views (Mine, Unassigned, My teams, Mentions, SLA at risk) with their counts,
// filters (channel, status, priority), a search, and the conversations they hold, each a link to its
// page. The agent socket (/ws/agent) says when something changed: counts and list are read again (a
// burst of events, once); each reconnection reads them again, so nothing missed meanwhile stays missed.
import { html, nothing } from "lit";
import { call } from "./api.js";
import { customerName, label, signInAgainUrl, waited } from "./format.js";
import { ModelElement } from "./model-element.js";
import { RoutingFeed } from "./routing-feed.js";

export const VIEWS = [
  { id: "mine", name: "Mine", query: { assignee: "me" } },
  { id: "unassigned", name: "Unassigned", query: { assignee: "none" } },
  { id: "teams", name: "My teams", query: { team: "mine" } },
  { id: "mentions", name: "Mentions" },
  { id: "sla", name: "SLA at risk" },
];
const CHANNELS = ["webchat", "email", "sms", "voice", "inapp"];
const STATUSES = ["open", "pending", "snoozed", "closed"];
const PRIORITIES = ["urgent", "high", "normal", "low"];
const ACTIVE = ["open", "pending"];
const REFRESH_AFTER_MS = 300;

function search(params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const one of Array.isArray(value) ? value : [value]) if (one) query.append(name, one);
  }
  return query.toString();
}

export class Inbox extends EventTarget {
  constructor() {
    super();
    this.view = "mine";
    this.filters = { channel: "", status: "active", priority: "", q: "" };
    this.counts = {};
    this.rows = null; // null: being read
    this.error = "";
    this.customers = new Map();
    this.previews = new Map();
    this.feed = new RoutingFeed("/ws/agent", "welcome");
    this.reading = 0;
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }

  start() {
    this.feed.addEventListener("frame", (event) => this.#onFrame(event.detail));
    this.feed.start();
    this.refresh();
  }

  #onFrame(frame) {
    if (frame.type === "message") this.previews.set(frame.message.conversation_id, frame.message.body);
    if (["welcome", "message", "conversation", "customer"].includes(frame.type)) {
      clearTimeout(this.pending);
      this.pending = setTimeout(() => this.refresh(), REFRESH_AFTER_MS);
    }
  }

  show(view) {
    this.view = view;
    this.refresh();
  }

  filter(name, value) {
    this.filters = { ...this.filters, [name]: value };
    this.refresh();
  }

  #statuses() {
    const status = this.filters.status;
    return status === "active" ? ACTIVE : status ? [status] : [];
  }

  async refresh() {
    const reading = ++this.reading;
    const [counts, rows] = await Promise.all([this.#readCounts(), this.#readRows()]);
    if (reading !== this.reading) return; // a later read answers instead
    this.counts = counts;
    if (rows.error) {
      this.error = rows.error;
      this.rows = [];
    } else {
      this.error = "";
      this.rows = rows.list;
    }
    this.changed();
    await this.#learnCustomers(this.rows);
  }

  async #readCounts() {
    const { channel, priority, q } = this.filters;
    const [counts, mentions, sla] = await Promise.all([
      call("GET", `/v1/conversations/counts?${search({ channel, priority, q })}`),
      call("GET", "/v1/mentions?unread=true&limit=200"),
      call("GET", "/v1/sla/at-risk?limit=1"),
    ]);
    const c = counts.ok ? counts.body : {};
    return {
      mine: c.mine,
      unassigned: c.unassigned,
      teams: c.my_teams,
      mentions: mentions.ok ? mentions.body.data.length : null,
      sla: sla.ok ? sla.body.total : null,
    };
  }

  async #readRows() {
    const view = VIEWS.find((v) => v.id === this.view);
    const { channel, priority, q } = this.filters;
    if (view.query) {
      const query = search({ ...view.query, channel, priority, q, status: this.#statuses() });
      const answer = await call("GET", `/v1/conversations?${query}&sort=updated&order=desc&limit=100`);
      return answer.ok ? { list: answer.body.data } : { error: this.#why(answer) };
    }
    // Mentions and clocks at risk name conversations: each is read, and the filters hold here.
    const path = view.id === "mentions" ? "/v1/mentions?limit=100" : "/v1/sla/at-risk?limit=100";
    const answer = await call("GET", path);
    if (!answer.ok) return { error: this.#why(answer) };
    const ids = [...new Set(answer.body.data.map((entry) => entry.conversation_id))];
    const read = await Promise.all(ids.map((id) => call("GET", `/v1/conversations/${encodeURIComponent(id)}`)));
    const statuses = this.#statuses();
    const words = q.trim().toLowerCase();
    const list = read
      .filter((r) => r.ok)
      .map((r) => r.body)
      .filter((c) => !channel || c.channel === channel)
      .filter((c) => !priority || c.priority === priority)
      .filter((c) => !statuses.length || statuses.includes(c.status))
      .filter((c) => !words || `${c.subject ?? ""} ${this.customerName(c.customer_id)}`.toLowerCase().includes(words));
    return { list };
  }

  #why(answer) {
    // Nothing typed here to keep: the page goes to sign in, and back, at once (as the desk does).
    if (answer.status === 401) location.assign(signInAgainUrl());
    return answer.body?.detail ?? `The conversations could not be read (${answer.status}).`;
  }

  customerName(customerId) {
    return this.customers.get(customerId) ?? "…";
  }

  async #learnCustomers(rows) {
    const unknown = [...new Set(rows.map((r) => r.customer_id))].filter((id) => !this.customers.has(id));
    if (!unknown.length) return;
    await Promise.all(
      unknown.map(async (id) => {
        const answer = await call("GET", `/v1/customers/${encodeURIComponent(id)}`);
        this.customers.set(id, answer.ok ? customerName(answer.body) : "A customer");
      }),
    );
    this.changed();
  }

  preview(row) {
    const count = row.message_count === 1 ? "1 message" : `${row.message_count} messages`;
    return this.previews.get(row.id) ?? row.subject ?? count;
  }
}

const isTyping = (target) => target.closest?.("input, textarea, select, [contenteditable]");

// The inbox's column: the views, the filters, and the list (j/k or the arrow keys move, Enter opens).
export class CxInbox extends ModelElement {
  connectedCallback() {
    super.connectedCallback();
    this.onKey = (event) => this.#key(event);
    document.addEventListener("keydown", this.onKey);
    this.ticker = setInterval(() => this.requestUpdate(), 30000);
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    document.removeEventListener("keydown", this.onKey);
    clearInterval(this.ticker);
  }

  #key(event) {
    if (event.altKey || event.ctrlKey || event.metaKey || isTyping(event.target)) return;
    const step = { j: 1, ArrowDown: 1, k: -1, ArrowUp: -1 }[event.key];
    if (!step) return;
    const links = [...this.querySelectorAll(".inbox-row a")];
    if (!links.length) return;
    const at = links.indexOf(document.activeElement);
    const next = at === -1 ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, at + step));
    event.preventDefault();
    links[next].focus();
  }

  #select(name, title, values, anyLabel) {
    const inbox = this.model;
    return html`
      <label class="filter">
        <span>${title}</span>
        <select id="filter-${name}" @change=${(e) => inbox.filter(name, e.target.value)}>
          ${anyLabel ? html`<option value="" ?selected=${!inbox.filters[name]}>${anyLabel}</option>` : nothing}
          ${values.map(
            ([value, text]) => html`<option value=${value} ?selected=${inbox.filters[name] === value}>${text}</option>`,
          )}
        </select>
      </label>`;
  }

  #row(row, now) {
    const inbox = this.model;
    const name = inbox.customerName(row.customer_id);
    return html`
      <li class="inbox-row" data-conversation-id=${row.id} data-status=${row.status} data-priority=${row.priority}>
        <a href="/app/conversations/${encodeURIComponent(row.id)}">
          <span class="row-top">
            <span class="row-customer">${name}</span>
            <span class="row-waiting" title="Since the last message">${waited(row.last_message_at ?? row.created_at, now)}</span>
          </span>
          <span class="row-preview">${inbox.preview(row)}</span>
          <span class="row-tags">
            <span class="row-channel">${row.channel}</span>
            <span class="row-status">${row.status}</span>
            <span class="row-priority" data-priority=${row.priority}>${row.priority}</span>
          </span>
        </a>
      </li>`;
  }

  render() {
    const inbox = this.model;
    if (!inbox) return html`<p class="muted">Loading your inbox…</p>`;
    const viewName = VIEWS.find((v) => v.id === inbox.view).name;
    return html`
      <section class="inbox" aria-labelledby="inbox-title">
        <h2 id="inbox-title">Inbox</h2>
        <nav aria-label="Inbox views">
          <ul class="views">
            ${VIEWS.map(
              (v) => html`<li>
                <button class="view secondary" data-view=${v.id} aria-pressed=${inbox.view === v.id ? "true" : "false"}
                  @click=${() => inbox.show(v.id)}>
                  ${v.name} <span class="count" data-count=${v.id}>${inbox.counts[v.id] ?? "–"}</span>
                </button>
              </li>`,
            )}
          </ul>
        </nav>
        <form class="filters" role="search" @submit=${(e) => {
          e.preventDefault();
          inbox.filter("q", e.target.elements.q.value.trim());
        }}>
          <label class="filter search">
            <span>Search</span>
            <input id="inbox-search" name="q" type="search" .value=${inbox.filters.q}
              placeholder="Customer, subject or message" maxlength="200">
          </label>
          <button type="submit" class="secondary">Search</button>
          ${this.#select("channel", "Channel", CHANNELS.map((c) => [c, c]), "Any channel")}
          ${this.#select("status", "Status", [["active", "Open or pending"], ...STATUSES.map((s) => [s, label(s)])], "Any status")}
          ${this.#select("priority", "Priority", PRIORITIES.map((p) => [p, label(p)]), "Any priority")}
        </form>
        <h3 class="list-title" id="inbox-list-title">${viewName}</h3>
        ${inbox.error ? html`<p class="error" role="alert">${inbox.error}</p>` : nothing}
        ${inbox.rows === null
          ? html`<p class="muted">Loading…</p>`
          : inbox.rows.length === 0
            ? html`<p class="muted empty" id="inbox-empty">No conversations here.</p>`
            : html`<ul class="inbox-list" aria-labelledby="inbox-list-title">
                ${inbox.rows.map((row) => this.#row(row, Date.now()))}
              </ul>`}
        <p class="hint">Keys: j or ↓ next, k or ↑ previous, Enter opens.</p>
      </section>`;
  }
}
