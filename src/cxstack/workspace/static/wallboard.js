// The supervisor's wallboard page: queues, agents (with a presence switch each), SLA clocks at risk and
// the open work (each item can be offered to another agent), kept live by the board (board.js). Rendered
// into the page (no shadow root), so that the page's styles and landmarks apply.
import { html, nothing } from "lit";
import { live } from "lit/directives/live.js";
import { repeat } from "lit/directives/repeat.js";
import { Board, PRESENCES } from "./board.js";
import { ModelElement } from "./model-element.js";
import { wireSignOut } from "./top.js";

const label = (word) => {
  const text = String(word ?? "").replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
};

// A span of time in words: "45 s", "3 min 05 s", "2 h 07 min".
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

const percent = (share) => (share === null || share === undefined ? "–" : `${Math.round(share * 100)}%`);
const clockTime = (at) => new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
const METRICS = { first_response: "First response", next_response: "Next response", resolution: "Resolution" };

// The board is the model the wallboard shows.
class CxWallboard extends ModelElement {
  get board() {
    return this.model;
  }

  set board(board) {
    this.model = board;
  }

  connectedCallback() {
    super.connectedCallback();
    // Waits and times in state tick every second between reads.
    this.ticker = setInterval(() => this.requestUpdate(), 1000);
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    clearInterval(this.ticker);
  }

  // Seconds elapsed since the read, by this browser's clock (the server's times are not compared with it).
  sinceRead() {
    return (Date.now() - this.board.readAt) / 1000;
  }

  queues() {
    const board = this.board;
    const queues = board.overview.queues;
    const since = this.sinceRead();
    return html`
      <section aria-labelledby="queues-title" id="queues">
        <h2 id="queues-title">Queues</h2>
        ${queues.length === 0
          ? html`<p class="muted empty">No queues yet.</p>`
          : html`<div class="table-wrap"><table class="board-table">
            <caption class="visually-hidden">Queues now; today's figures since midnight (${board.overview.tz})</caption>
            <thead><tr>
              <th scope="col">Queue</th><th scope="col" class="num">Waiting</th>
              <th scope="col" class="num">Oldest wait</th><th scope="col" class="num">Offered</th>
              <th scope="col" class="num">Service level today</th><th scope="col" class="num">Last hour</th>
              <th scope="col" class="num">Abandoned today</th><th scope="col" class="num">Agents available</th>
            </tr></thead>
            <tbody>
              ${repeat(queues, (q) => q.queue_id, (q) => html`
                <tr data-queue-id=${q.queue_id}>
                  <th scope="row" class="name">${q.name}</th>
                  <td class="num waiting">${q.waiting}</td>
                  <td class="num oldest-wait">${q.waiting ? duration(q.oldest_wait_seconds + since) : "–"}</td>
                  <td class="num offered">${q.offered}</td>
                  <td class="num service-level-today">
                    ${percent(q.service_level_today)}
                    <span class="muted">(${q.answered_today} answered)</span>
                  </td>
                  <td class="num service-level">${percent(q.service_level)}</td>
                  <td class="num abandoned-today">${q.abandoned_today}</td>
                  <td class="num agents-available">${q.agents_available}</td>
                </tr>`)}
            </tbody>
          </table></div>`}
      </section>`;
  }

  presenceSwitch(agent) {
    const board = this.board;
    const known = PRESENCES.includes(agent.presence);
    return html`
      <select class="presence-select" aria-label="Presence of ${agent.name}"
        .value=${live(agent.presence)}
        @change=${(e) => board.setPresence(agent.agent_id, e.target.value)}>
        ${PRESENCES.map((p) => html`<option value=${p} ?selected=${agent.presence === p}>${label(p)}</option>`)}
        ${known ? nothing : html`<option value=${agent.presence} selected disabled>${label(agent.presence)}</option>`}
      </select>`;
  }

  load(agent) {
    const channels = [...new Set([...Object.keys(agent.capacity), ...Object.keys(agent.load)])].filter(
      (c) => agent.capacity[c] > 0 || agent.load[c],
    );
    if (channels.length === 0) return html`<span class="muted">No capacity set</span>`;
    return channels.map(
      (c) => html`<span class="load-item" data-channel=${c}>${c} ${agent.load[c] ?? 0}/${agent.capacity[c] ?? 0}</span> `,
    );
  }

  agentWork(agent) {
    const board = this.board;
    if (agent.work.length === 0) return html`<span class="muted">None</span>`;
    return html`
      <span class="work-count">${agent.work.length}</span>
      <ul class="work-list">
        ${agent.work.map((w) => {
          const item = board.items.find((i) => i.id === w.item_id);
          const customer = item ? board.customerName(item.customer_id) : "A customer";
          return html`<li data-item-id=${w.item_id} data-conversation-id=${w.conversation_id}>
            ${customer} <span class="muted">(${w.channel}, ${w.state})</span></li>`;
        })}
      </ul>`;
  }

  agents() {
    const board = this.board;
    const agents = board.overview.agents;
    const at = board.overview.at ? new Date(board.overview.at).getTime() : Date.now();
    const since = this.sinceRead();
    return html`
      <section aria-labelledby="agents-title" id="agents">
        <h2 id="agents-title">Agents</h2>
        ${agents.length === 0
          ? html`<p class="muted empty">No agent has a routing profile yet.</p>`
          : html`<div class="table-wrap"><table class="board-table">
            <caption class="visually-hidden">Agents: presence, load per channel, current work</caption>
            <thead><tr>
              <th scope="col">Agent</th><th scope="col">Presence</th><th scope="col">In this state</th>
              <th scope="col">Load</th><th scope="col">Current work</th>
            </tr></thead>
            <tbody>
              ${repeat(agents, (a) => a.agent_id, (a) => html`
                <tr data-agent-id=${a.agent_id} data-presence=${a.presence}>
                  <th scope="row" class="name">${a.name}</th>
                  <td class="presence">${this.presenceSwitch(a)}</td>
                  <td class="in-state">
                    ${duration((at - new Date(a.presence_since).getTime()) / 1000 + since)}
                    ${a.wrap_up_until ? html`<span class="muted">(wrap-up until ${clockTime(a.wrap_up_until)})</span>` : nothing}
                  </td>
                  <td class="load">${this.load(a)}</td>
                  <td class="current-work">${this.agentWork(a)}</td>
                </tr>`)}
            </tbody>
          </table></div>`}
      </section>`;
  }

  // A select of the agents (but the item's own) and a button that offers the item to the one chosen. An
  // item can be in two lists (at risk, and open work): each list has its own controls.
  reassign(item, list) {
    const board = this.board;
    const customer = board.customerName(item.customer_id);
    const others = board.overview.agents.filter((a) => a.agent_id !== item.agent_id);
    const go = (event) => {
      const chosen = event.target.closest(".reassign").querySelector("select").value;
      if (!chosen) return board.say(`Choose an agent to give the conversation with ${customer} to.`);
      board.reassign(item.id, chosen);
    };
    return html`
      <div class="reassign">
        <select id="reassign-${list}-${item.id}" aria-label="Reassign the conversation with ${customer} to">
          <option value="">Choose an agent…</option>
          ${others.map((a) => html`<option value=${a.agent_id}>${a.name} (${label(a.presence)})</option>`)}
        </select>
        <button type="button" class="secondary" @click=${go}
          aria-label="Reassign the conversation with ${customer}">Reassign</button>
      </div>`;
  }

  workRow(item, clock) {
    const board = this.board;
    return html`
      <tr data-item-id=${item.id} data-conversation-id=${item.conversation_id} data-state=${item.state}
        data-agent-id=${item.agent_id ?? ""}>
        ${clock
          ? html`
            <td class="metric">${METRICS[clock.metric] ?? label(clock.metric)}</td>
            <td class="sla-state" data-state=${clock.state}>
              ${clock.state === "breached" ? "Breached" : clock.business_seconds_left < 0 ? "Overdue" : "At risk"}
              <span class="muted">(due ${clockTime(clock.due_at)})</span>
            </td>`
          : nothing}
        <th scope="row" class="customer">${board.customerName(item.customer_id)}</th>
        <td class="channel">${item.channel}</td>
        <td class="queue">${board.queueName(item.queue_id)}</td>
        <td class="state">${label(item.state)}</td>
        <td class="agent">${item.agent_id ? board.agentName(item.agent_id) : html`<span class="muted">Nobody</span>`}</td>
        <td>${this.reassign(item, clock ? "sla" : "work")}</td>
      </tr>`;
  }

  atRisk() {
    const board = this.board;
    // Each clock with the open work of its conversation; a clock whose conversation has none is listed too.
    const rows = board.atRisk.data.flatMap((clock) => {
      const items = board.itemsOf(clock.conversation_id);
      return items.length ? items.map((item) => ({ clock, item })) : [{ clock, item: null }];
    });
    return html`
      <section aria-labelledby="sla-title" id="sla">
        <h2 id="sla-title">SLA at risk and breached <span class="count">${board.atRisk.total}</span></h2>
        ${rows.length === 0
          ? html`<p class="muted empty">No SLA clock is at risk.</p>`
          : html`<div class="table-wrap"><table class="board-table">
            <caption class="visually-hidden">SLA clocks at risk or breached, soonest due first</caption>
            <thead><tr>
              <th scope="col">Metric</th><th scope="col">SLA</th><th scope="col">Customer</th>
              <th scope="col">Channel</th><th scope="col">Queue</th><th scope="col">Work</th>
              <th scope="col">Agent</th><th scope="col">Reassign</th>
            </tr></thead>
            <tbody>
              ${rows.map(({ clock, item }) =>
                item
                  ? this.workRow(item, clock)
                  : html`<tr data-conversation-id=${clock.conversation_id}>
                      <td class="metric">${METRICS[clock.metric] ?? label(clock.metric)}</td>
                      <td class="sla-state" data-state=${clock.state}>
                        ${clock.state === "breached" ? "Breached" : "At risk"}
                        <span class="muted">(due ${clockTime(clock.due_at)})</span>
                      </td>
                      <th scope="row" class="customer">Conversation ${clock.conversation_id}</th>
                      <td colspan="5" class="muted">No open routing work</td>
                    </tr>`,
              )}
            </tbody>
          </table></div>`}
      </section>`;
  }

  openWork() {
    const board = this.board;
    return html`
      <section aria-labelledby="work-title" id="open-work">
        <h2 id="work-title">Open work <span class="count">${board.items.length}</span></h2>
        ${board.items.length === 0
          ? html`<p class="muted empty">No work waiting, offered or assigned.</p>`
          : html`<div class="table-wrap"><table class="board-table">
            <caption class="visually-hidden">Work waiting, offered or assigned, longest waiting first</caption>
            <thead><tr>
              <th scope="col">Customer</th><th scope="col">Channel</th><th scope="col">Queue</th>
              <th scope="col">Work</th><th scope="col">Agent</th><th scope="col">Reassign</th>
            </tr></thead>
            <tbody>${repeat(board.items, (item) => item.id, (item) => this.workRow(item, null))}</tbody>
          </table></div>`}
      </section>`;
  }

  render() {
    const board = this.board;
    if (!board) return html`<p class="muted">Loading queues and agents…</p>`;
    const status = {
      connecting: "Connecting…",
      open: "Live",
      reconnecting: "Connection lost: reconnecting…",
      refused: "Not connected",
    }[board.connection];
    return html`
      <p class="connection" id="connection" data-state=${board.connection}>${status}</p>
      <p class="visually-hidden" role="status" aria-live="polite" id="announcer">${board.message}</p>
      ${board.message ? html`<p class="notice" id="board-message">${board.message}</p>` : nothing}
      ${board.failure ? html`<p class="error" id="board-failure">${board.failure}</p>` : nothing}
      ${board.loaded
        ? html`${this.queues()} ${this.agents()} ${this.atRisk()} ${this.openWork()}`
        : html`<p class="muted">Loading queues and agents…</p>`}`;
  }
}

customElements.define("cx-wallboard", CxWallboard);

const element = document.querySelector("cx-wallboard");
const board = new Board();
element.board = board;
board.start();

wireSignOut(() => board.stop());
