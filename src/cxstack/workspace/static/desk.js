// What the agent's page knows of their routing: presence, load, offers and work in hand. The routing
// socket feeds it; answers (accept, decline, presence) go through the routing API. Offers and work are
// kept by item id, and every `ready` frame (each time the socket opens) replaces them, so a page that
// reconnects shows what is true then, once.
import { call } from "./api.js";
import { RoutingFeed } from "./routing-feed.js";

export const PRESENCES = ["available", "away", "busy", "offline"];
const GONE = new Set(["routing.declined", "routing.expired", "routing.transferred", "routing.completed"]);

export class Desk extends EventTarget {
  constructor(userId) {
    super();
    this.userId = userId;
    this.profile = "loading"; // "loading" | "ready" | "none" | "failed"
    this.connection = "connecting";
    this.presence = null;
    this.load = {};
    this.capacity = {};
    this.offers = new Map();
    this.work = new Map();
    this.message = "";
    this.queues = new Map();
    this.customers = new Map();
    this.feed = new RoutingFeed();
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }

  say(message) {
    this.message = message;
    this.changed();
  }

  async start() {
    const agent = await call("GET", `/v1/routing/agents/${encodeURIComponent(this.userId)}`);
    if (agent.status === 404) {
      this.profile = "none";
      this.changed();
      return;
    }
    if (agent.status === 401) return this.signInAgain();
    if (!agent.ok) {
      this.profile = "failed";
      this.message = agent.body?.detail ?? "Your routing profile could not be read.";
      this.changed();
      return;
    }
    this.#takeAgent(agent.body);
    this.profile = "ready";
    this.changed();
    await this.#readQueues();
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
  }

  signInAgain() {
    location.assign(`/app/sign-in?next=${encodeURIComponent(location.pathname)}`);
  }

  #takeAgent(agent) {
    this.presence = agent.presence;
    this.load = agent.load ?? {};
    this.capacity = agent.capacity ?? {};
  }

  async refreshAgent() {
    const agent = await call("GET", `/v1/routing/agents/${encodeURIComponent(this.userId)}`);
    if (agent.ok) {
      this.#takeAgent(agent.body);
      this.changed();
    }
  }

  async #readQueues() {
    const queues = await call("GET", "/v1/routing/queues");
    if (queues.ok) for (const queue of queues.body.data) this.queues.set(queue.id, queue.name);
  }

  queueName(queueId) {
    return this.queues.get(queueId) ?? "another queue";
  }

  customerName(customerId) {
    return this.customers.get(customerId) ?? "a customer";
  }

  async #learnAbout(item) {
    if (!this.queues.has(item.queue_id)) await this.#readQueues();
    if (item.customer_id && !this.customers.has(item.customer_id)) {
      const customer = await call("GET", `/v1/customers/${encodeURIComponent(item.customer_id)}`);
      if (customer.ok) {
        const c = customer.body;
        this.customers.set(item.customer_id, c.name || c.email || c.phone || "Unnamed customer");
      }
    }
    this.changed();
  }

  // An item as the page shows it: the API's item, and, for an offer, why it came to this agent.
  #keep(map, item, why) {
    const previous = map.get(item.id);
    map.set(item.id, { ...item, why: why ?? previous?.why ?? null });
    this.#learnAbout(item);
  }

  async #fetchItem(itemId) {
    const answer = await call("GET", `/v1/routing/items/${encodeURIComponent(itemId)}`);
    return answer.ok ? answer.body : null;
  }

  async #onFrame(frame) {
    switch (frame.type) {
      case "ready":
        // What the page knew of an offer still open (why it came here) outlives the reconnection.
        const known = new Map(this.offers);
        this.presence = frame.presence;
        this.offers.clear();
        this.work.clear();
        for (const item of frame.offers) this.#keep(this.offers, item, known.get(item.id)?.why);
        for (const item of frame.work) this.#keep(this.work, item);
        this.changed();
        this.refreshAgent();
        break;
      case "offer": {
        const item = await this.#fetchItem(frame.item_id);
        if (item && item.state === "offered" && item.agent_id === this.userId) {
          this.#keep(this.offers, item, { strategy: frame.strategy, skills: frame.matched_skills });
          this.say(`New offer: ${item.channel} in ${this.queueName(item.queue_id)}.`);
          this.refreshAgent();
        }
        break;
      }
      case "presence":
        if (frame.agent_id === undefined || frame.agent_id === this.userId) {
          this.presence = frame.presence ?? this.presence;
          this.changed();
        }
        break;
      case "routing":
        await this.#onRouting(frame.event, frame.data);
        break;
      default:
        break;
    }
  }

  async #onRouting(event, data) {
    const itemId = data.item_id;
    if (event === "routing.assigned" && data.agent_id === this.userId) {
      this.offers.delete(itemId);
      const item = await this.#fetchItem(itemId);
      if (item && item.state === "assigned") this.#keep(this.work, item);
    } else if (GONE.has(event)) {
      this.offers.delete(itemId);
      if (event !== "routing.declined") this.work.delete(itemId);
    }
    this.changed();
    this.refreshAgent();
  }

  async accept(itemId) {
    const answer = await call("POST", `/v1/routing/items/${encodeURIComponent(itemId)}/accept`, {});
    if (!answer.ok) {
      this.offers.delete(itemId);
      return this.say(`The offer could not be accepted: ${answer.body?.detail ?? answer.status}.`);
    }
    this.offers.delete(itemId);
    this.#keep(this.work, answer.body);
    this.say(`Accepted: the conversation with ${this.customerName(answer.body.customer_id)} is yours.`);
    this.refreshAgent();
  }

  async decline(itemId) {
    const answer = await call("POST", `/v1/routing/items/${encodeURIComponent(itemId)}/decline`, {});
    this.offers.delete(itemId);
    this.say(answer.ok ? "Offer declined." : `The offer could not be declined: ${answer.body?.detail}.`);
    this.refreshAgent();
  }

  async setPresence(presence) {
    const answer = await call("PUT", `/v1/routing/agents/${encodeURIComponent(this.userId)}/presence`, {
      presence,
    });
    if (!answer.ok) return this.say(`Presence not changed: ${answer.body?.detail ?? answer.status}.`);
    this.#takeAgent(answer.body);
    this.say(`You are ${answer.body.presence}.`);
  }
}
