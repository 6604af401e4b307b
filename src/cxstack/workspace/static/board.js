// What the supervisor's wallboard knows: the routing overview (queues and agents), the open work and the
// SLA clocks at risk, all read from the API. The supervisor's routing socket (/ws/routing/overview) says
// when routing changed: each `ready` (every time the socket opens, so after a lost one too) reads
// everything again, and each change after it reads it again at most every 500 ms. Changes the supervisor
// makes (an agent's presence, reassigning work) go through the routing API.
import { call } from "./api.js";
import { RoutingFeed } from "./routing-feed.js";

export const PRESENCES = ["available", "away", "busy", "offline"];
// At most one re-read of everything per this many milliseconds while routing keeps changing.
const REFRESH_EVERY_MS = 500;
// SLA clocks move with time alone: their list is read again this often even when routing is quiet.
const SLA_EVERY_MS = 15000;
const MAX_ITEM_PAGES = 5;

export class Board extends EventTarget {
  constructor() {
    super();
    this.connection = "connecting";
    this.loaded = false;
    this.failure = "";
    this.message = "";
    this.overview = { queues: [], agents: [], at: null, tz: "UTC" };
    // When (by this browser's clock) the overview was read: waits and times in state tick from then.
    this.readAt = Date.now();
    this.items = [];
    this.atRisk = { data: [], total: 0 };
    this.customers = new Map();
    this.timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    this.feed = new RoutingFeed("/ws/routing/overview");
    this.lastRefresh = 0;
    this.pending = null;
    this.refreshing = null;
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }

  say(message) {
    this.message = message;
    this.changed();
  }

  start() {
    this.feed.addEventListener("frame", (event) => this.#onFrame(event.detail));
    this.feed.addEventListener("state", (event) => {
      this.connection = event.detail;
      this.changed();
    });
    this.feed.addEventListener("refused", (event) => {
      const code = event.detail.code;
      if (code === "unauthorized" || code === "session_invalid") return this.signInAgain();
      this.say(event.detail.detail ?? "The routing connection was refused.");
    });
    this.feed.start();
    this.slaTimer = setInterval(() => this.refreshSoon(), SLA_EVERY_MS);
  }

  stop() {
    clearInterval(this.slaTimer);
    clearTimeout(this.pending);
    this.feed.stop();
  }

  signInAgain() {
    location.assign(`/app/sign-in?next=${encodeURIComponent(location.pathname)}`);
  }

  #onFrame(frame) {
    if (frame.type === "ready") this.refreshNow();
    else if (frame.type === "overview" || frame.type === "routing" || frame.type === "presence") this.refreshSoon();
  }

  // Read everything again now (a `ready`, or after the supervisor changed something).
  refreshNow() {
    clearTimeout(this.pending);
    this.pending = null;
    return this.#refresh();
  }

  // Read everything again, at most once per REFRESH_EVERY_MS however many changes come.
  refreshSoon() {
    if (this.pending) return;
    const wait = Math.max(0, this.lastRefresh + REFRESH_EVERY_MS - Date.now());
    this.pending = setTimeout(() => {
      this.pending = null;
      this.#refresh();
    }, wait);
  }

  async #refresh() {
    // One read at a time; a change during a read reads again once it is done.
    if (this.refreshing) {
      await this.refreshing;
      return this.refreshSoon();
    }
    this.lastRefresh = Date.now();
    this.refreshing = this.#readAll();
    try {
      await this.refreshing;
    } finally {
      this.refreshing = null;
    }
  }

  async #readAll() {
    const tz = encodeURIComponent(this.timeZone);
    const [overview, items, atRisk] = await Promise.all([
      call("GET", `/v1/routing/overview?tz=${tz}`),
      this.#readItems(),
      call("GET", "/v1/sla/at-risk?limit=50"),
    ]);
    if (overview.status === 401) return this.signInAgain();
    if (!overview.ok) {
      this.failure = overview.body?.detail ?? `The overview could not be read (${overview.status}).`;
      this.changed();
      return;
    }
    this.failure = "";
    this.overview = overview.body;
    this.readAt = Date.now();
    if (items !== null) this.items = items;
    if (atRisk.ok) this.atRisk = atRisk.body;
    this.loaded = true;
    this.changed();
    this.#learnCustomers();
  }

  // Every open item (waiting, offered, assigned), longest waiting first; null when it cannot be read.
  async #readItems() {
    const found = [];
    let cursor = null;
    for (let page = 0; page < MAX_ITEM_PAGES; page++) {
      const query = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const answer = await call("GET", `/v1/routing/items?limit=200${query}`);
      if (!answer.ok) return null;
      found.push(...answer.body.data);
      cursor = answer.body.next_cursor;
      if (!cursor) break;
    }
    return found;
  }

  async #learnCustomers() {
    const unknown = new Set(this.items.map((item) => item.customer_id).filter((id) => id && !this.customers.has(id)));
    for (const customerId of unknown) {
      const answer = await call("GET", `/v1/customers/${encodeURIComponent(customerId)}`);
      const c = answer.ok ? answer.body : null;
      this.customers.set(customerId, c ? c.name || c.email || c.phone || "Unnamed customer" : "A customer");
    }
    if (unknown.size) this.changed();
  }

  customerName(customerId) {
    return this.customers.get(customerId) ?? "A customer";
  }

  agentName(agentId) {
    return this.overview.agents.find((agent) => agent.agent_id === agentId)?.name ?? "another agent";
  }

  queueName(queueId) {
    return this.overview.queues.find((queue) => queue.queue_id === queueId)?.name ?? "another queue";
  }

  itemsOf(conversationId) {
    return this.items.filter((item) => item.conversation_id === conversationId);
  }

  async setPresence(agentId, presence) {
    const path = `/v1/routing/agents/${encodeURIComponent(agentId)}/presence`;
    const answer = await call("PUT", path, { presence });
    if (answer.status === 401) return this.signInAgain();
    if (!answer.ok) {
      this.say(`${this.agentName(agentId)}'s presence was not changed: ${answer.body?.detail ?? answer.status}.`);
    } else {
      this.say(`${this.agentName(agentId)} is ${presence} now.`);
    }
    await this.refreshNow();
  }

  async reassign(itemId, agentId) {
    const item = this.items.find((i) => i.id === itemId);
    const who = this.agentName(agentId);
    const answer = await call("POST", `/v1/routing/items/${encodeURIComponent(itemId)}/transfer`, {
      to_agent_id: agentId,
      note: "Reassigned from the wallboard",
    });
    if (answer.status === 401) return this.signInAgain();
    const customer = item ? this.customerName(item.customer_id) : "the customer";
    if (!answer.ok) {
      this.say(`The conversation with ${customer} was not reassigned: ${answer.body?.detail ?? answer.status}.`);
    } else {
      this.say(`The conversation with ${customer} is offered to ${who} now.`);
    }
    await this.refreshNow();
  }
}
