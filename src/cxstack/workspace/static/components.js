// The workspace's live parts, as lit elements rendered into the page (no shadow root), so that the
// page's styles and its landmarks apply to them.
import { html, nothing } from "lit";
import { ModelElement } from "./model-element.js";
import { PRESENCES } from "./desk.js";

// The desk is the model these elements show.
class DeskElement extends ModelElement {
  get desk() {
    return this.model;
  }

  set desk(desk) {
    this.model = desk;
  }
}

const label = (word) => word.charAt(0).toUpperCase() + word.slice(1);

// The header's part: presence (a switch) and load, or why there are none.
export class CxPresence extends DeskElement {
  render() {
    const desk = this.desk;
    if (!desk || desk.profile === "loading") return html`<span class="muted">Loading presence…</span>`;
    if (desk.profile === "none") {
      return html`<p class="notice" id="no-profile">
        You have no routing profile yet, so no work is offered to you. An admin can add one
        (skills, languages and capacity) under routing agents.
      </p>`;
    }
    if (desk.profile === "failed") return html`<p class="notice">${desk.message}</p>`;
    const channels = Object.keys(desk.capacity).filter((c) => desk.capacity[c] > 0 || desk.load[c]);
    return html`
      <label class="presence">
        <span>Presence</span>
        <select id="presence" data-presence=${desk.presence}
          @change=${(e) => desk.setPresence(e.target.value)}>
          ${PRESENCES.map((p) => html`<option value=${p} ?selected=${desk.presence === p}>${label(p)}</option>`)}
          ${PRESENCES.includes(desk.presence)
            ? nothing
            : html`<option value=${desk.presence} selected disabled>${label(desk.presence ?? "")}</option>`}
        </select>
      </label>
      <p class="load" id="load">
        <span class="load-title">Load</span>
        ${channels.length === 0
          ? "No capacity set"
          : channels.map(
              (c) => html`<span class="load-item" data-channel=${c}>${c} ${desk.load[c] ?? 0}/${desk.capacity[c]}</span>`,
            )}
      </p>`;
  }
}

function secondsLeft(expiresAt, now) {
  if (!expiresAt) return null;
  return Math.max(0, Math.round((new Date(expiresAt).getTime() - now) / 1000));
}

// Why routing chose this agent, in words (the offer's strategy and the skills it matched).
const STRATEGIES = {
  skills: "Best skill match",
  longest_idle: "Idle the longest",
  least_busy: "Least busy",
  round_robin: "Your turn (round robin)",
  sticky: "The customer's last agent",
};

function reason(why) {
  if (!why) return "Routed to you";
  const skills = Object.entries(why.skills ?? {}).map(([skill, level]) => `${skill} ${level}`);
  const strategy = STRATEGIES[why.strategy] ?? label(String(why.strategy ?? "routed to you"));
  return skills.length ? `${strategy} (${skills.join(", ")})` : strategy;
}

// The main area: the offers waiting for an answer (with a countdown) and the work in hand.
export class CxAgentDesk extends DeskElement {
  connectedCallback() {
    super.connectedCallback();
    this.ticker = setInterval(() => {
      if (this.desk?.offers.size) this.requestUpdate();
    }, 1000);
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    clearInterval(this.ticker);
  }

  // Once an offer is answered its buttons are gone: keyboard focus goes on to the next offer, or to the
  // Offers heading when there is none, instead of falling back to the top of the page.
  // An accepted offer's focus goes to the link that opens its conversation.
  async answer(answering, accepted) {
    await answering;
    await this.updateComplete;
    const opened = accepted && this.querySelector(`#my-work [data-item-id="${accepted}"] .open-conversation`);
    const next = opened || this.querySelector("#offers .offer .accept") || this.querySelector("#offers-title");
    next?.focus();
  }

  offer(item, now) {
    const desk = this.desk;
    const left = secondsLeft(item.offer_expires_at, now);
    const customer = desk.customerName(item.customer_id);
    return html`
      <li class="card offer" data-item-id=${item.id}>
        <h3 id="offer-${item.id}">${customer}</h3>
        <dl>
          <dt>Channel</dt><dd class="channel">${item.channel}</dd>
          <dt>Queue</dt><dd class="queue">${desk.queueName(item.queue_id)}</dd>
          <dt>Why you</dt><dd class="reason">${reason(item.why)}</dd>
        </dl>
        <p class="countdown" data-seconds=${left ?? ""}>
          ${left === null ? "No time limit" : left > 0 ? html`Expires in <span>${left}</span> s` : "Expired"}
        </p>
        <div class="actions">
          <button class="accept" @click=${() => this.answer(desk.accept(item.id), item.id)}
            aria-label="Accept offer from ${customer}">Accept</button>
          <button class="decline secondary" @click=${() => this.answer(desk.decline(item.id))}
            aria-label="Decline offer from ${customer}">Decline</button>
        </div>
      </li>`;
  }

  work(item) {
    const desk = this.desk;
    return html`
      <li class="card work" data-item-id=${item.id}>
        <h3>${desk.customerName(item.customer_id)}</h3>
        <dl>
          <dt>Channel</dt><dd class="channel">${item.channel}</dd>
          <dt>Queue</dt><dd class="queue">${desk.queueName(item.queue_id)}</dd>
          <dt>Since</dt><dd>${item.assigned_at ? new Date(item.assigned_at).toLocaleTimeString() : "now"}</dd>
        </dl>
        ${item.conversation_id
          ? html`<p class="actions"><a class="open-conversation" href="/app/conversations/${encodeURIComponent(item.conversation_id)}">
              Open the conversation<span class="visually-hidden"> with ${desk.customerName(item.customer_id)}</span></a></p>`
          : nothing}
      </li>`;
  }

  render() {
    const desk = this.desk;
    if (!desk || desk.profile === "loading") return html`<p class="muted">Loading your offers and work…</p>`;
    if (desk.profile !== "ready") {
      return html`<p class="muted">Offers and work appear here once you have a routing profile.</p>`;
    }
    const now = Date.now();
    const status = {
      connecting: "Connecting…",
      open: "Live",
      reconnecting: "Connection lost: reconnecting…",
      refused: "Not connected",
    }[desk.connection];
    return html`
      <p class="connection" id="connection" data-state=${desk.connection}>${status}</p>
      <p class="visually-hidden" role="status" aria-live="polite" id="announcer">${desk.message}</p>
      <div class="columns">
        <section aria-labelledby="offers-title" id="offers">
          <h2 id="offers-title" tabindex="-1">Offers <span class="count">${desk.offers.size}</span></h2>
          ${desk.offers.size === 0
            ? html`<p class="muted empty">No offers right now.</p>`
            : html`<ul class="cards">${[...desk.offers.values()].map((item) => this.offer(item, now))}</ul>`}
        </section>
        <section aria-labelledby="work-title" id="my-work">
          <h2 id="work-title">My work <span class="count">${desk.work.size}</span></h2>
          ${desk.work.size === 0
            ? html`<p class="muted empty">Nothing in hand.</p>`
            : html`<ul class="cards">${[...desk.work.values()].map((item) => this.work(item))}</ul>`}
        </section>
      </div>`;
  }
}
