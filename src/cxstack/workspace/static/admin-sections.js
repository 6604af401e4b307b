// What each section of the administration lists and edits, and how its form maps to the API's body: the
// descriptions <cx-records> (admin-records.js) is driven by. The few needs of one section alone (team
// members, the webchat's embed snippet, the phone menu) are small extras here.
import { html, nothing } from "lit";
import { call } from "./api.js";
import { pairs, words } from "./admin-records.js";

const ROLES = [
  ["agent", "Agent"],
  ["supervisor", "Supervisor"],
  ["admin", "Admin"],
];
const CHANNELS = [
  ["webchat", "Webchat"],
  ["email", "Email"],
  ["sms", "SMS"],
  ["voice", "Voice"],
  ["inapp", "In-app"],
];
const STRATEGIES = [
  ["skills", "Best skill match"],
  ["longest_idle", "Idle the longest"],
  ["least_busy", "Least busy"],
  ["round_robin", "Round robin"],
  ["sticky", "The customer's last agent (sticky)"],
];
const PRIORITIES = ["low", "normal", "high", "urgent"];
const DAYS = [
  ["mon", "Monday"],
  ["tue", "Tuesday"],
  ["wed", "Wednesday"],
  ["thu", "Thursday"],
  ["fri", "Friday"],
  ["sat", "Saturday"],
  ["sun", "Sunday"],
];
const PRECHAT = [
  ["off", "Not asked"],
  ["optional", "Asked, optional"],
  ["required", "Required"],
];
export const API_DOCS = "/docs";

const teamChoices = (lookups) => lookups.teams.map((team) => [team.id, team.name]);
const queueChoices = (lookups) => lookups.queues.map((queue) => [queue.id, queue.name]);
const labelOf = (choices, value) => choices.find(([v]) => v === value)?.[1] ?? value;
const teamsHint = "None: everyone.";

function duration(seconds) {
  if (seconds == null) return null;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

const remove = (noun, path) => ({
  label: "Delete",
  method: "DELETE",
  path,
  confirm: (record) => `Delete the ${noun} ${record.name || record.address || record.number}?`,
  done: (record) => `The ${noun} ${record.name || record.address || record.number} was deleted.`,
});

// -- people ------------------------------------------------------------------------------------------

const users = {
  id: "users",
  title: "Users",
  noun: "User",
  intro: "The people who sign in to cxstack: their role decides what they may do, their teams what they see.",
  list: "/v1/users",
  empty: "No users yet.",
  label: (user) => user.name,
  columns: [
    { label: "Name", value: (user) => user.name },
    { label: "Email", value: (user) => user.email },
    { label: "Role", value: (user) => labelOf(ROLES, user.role) },
    { label: "Teams", value: (user, lookups) => lookups.namesOf("teams", user.team_ids) || "None" },
    {
      label: "Status",
      value: (user) => (user.disabled_at ? "Disabled" : user.has_password ? "Active" : "No password yet"),
    },
  ],
  fields: [
    { name: "name", label: "Name", required: true },
    { name: "email", label: "Email", kind: "email", required: true, only: "create" },
    { name: "role", label: "Role", kind: "select", options: ROLES, default: "agent" },
    { name: "team_ids", label: "Teams", kind: "choices", options: teamChoices, none: "No teams yet." },
    {
      name: "password",
      label: "Initial password",
      kind: "password",
      only: "create",
      omitEmpty: true,
      autocomplete: "new-password",
      hint: "At least 12 characters. Leave it empty and they set their own through a password reset.",
    },
  ],
  createTitle: "Add a user",
  createWord: "Add user",
  editTitle: (user) => `Edit ${user.name}`,
  create: { method: "POST", path: "/v1/users" },
  update: { method: "PATCH", path: (user) => `/v1/users/${user.id}` },
  actions: [
    {
      label: "Disable",
      // Not the admin themselves: that would end the session they are working in.
      when: (user, lookups) => !user.disabled_at && user.id !== lookups.me,
      method: "POST",
      path: (user) => `/v1/users/${user.id}/disable`,
      confirm: (user) => `Disable ${user.name}? Their sessions end and they can no longer sign in.`,
      done: (user) => `${user.name} is disabled.`,
    },
  ],
  affects: ["users", "teams"],
};

// Adds a member to a team, and lists each team's members with a button that removes them.
function membership(section) {
  const lookups = section.lookups;
  const id = (part) => section.ref(part);
  const add = async (event) => {
    event.preventDefault();
    const team = section.querySelector(`#${id("member-team")}`).value;
    const user = section.querySelector(`#${id("member-user")}`).value;
    await section.run(
      "POST",
      `/v1/teams/${team}/members`,
      { user_id: user },
      `${lookups.nameOf("users", user)} joined ${lookups.nameOf("teams", team)}.`,
    );
  };
  if (!section.records?.length) return nothing;
  return html`<form class="record-form" aria-labelledby=${id("member-title")} @submit=${add}>
    <h3 id=${id("member-title")}>Add a member</h3>
    <div class="field"><label for=${id("member-team")}>Team</label>
      <select id=${id("member-team")}>${section.records.map((team) => html`<option value=${team.id}>${team.name}</option>`)}</select></div>
    <div class="field"><label for=${id("member-user")}>Person</label>
      <select id=${id("member-user")}>${lookups.users
        .filter((user) => !user.disabled_at)
        .map((user) => html`<option value=${user.id}>${user.name} (${user.email})</option>`)}</select></div>
    <div class="actions"><button type="submit">Add to team</button></div>
  </form>`;
}

const members = (team, lookups, section) =>
  team.member_ids.length === 0
    ? "No members"
    : html`<ul class="members">${team.member_ids.map((userId) => {
        const name = lookups.nameOf("users", userId);
        return html`<li>${name} <button class="link" aria-label="Remove ${name} from ${team.name}"
          @click=${() => section.run("DELETE", `/v1/teams/${team.id}/members/${userId}`, undefined,
            `${name} left ${team.name}.`)}>Remove</button></li>`;
      })}</ul>`;

const teams = {
  id: "teams",
  title: "Teams",
  noun: "Team",
  intro: "Teams decide which conversations, queues and canned responses their members see.",
  list: "/v1/teams",
  empty: "No teams yet.",
  label: (team) => team.name,
  columns: [
    { label: "Team", value: (team) => team.name },
    { label: "Members", value: members },
  ],
  fields: [{ name: "name", label: "Team name", required: true }],
  createTitle: "Add a team",
  createWord: "Add team",
  create: { method: "POST", path: "/v1/teams" },
  extra: membership,
  affects: ["teams", "users"],
};

// -- canned responses --------------------------------------------------------------------------------

const canned = {
  id: "canned",
  title: "Canned responses",
  noun: "Canned response",
  intro: "Ready answers agents insert with their shortcut.",
  list: "/v1/canned-responses",
  empty: "No canned responses yet.",
  label: (reply) => reply.name,
  columns: [
    { label: "Name", value: (reply) => reply.name },
    { label: "Shortcut", value: (reply) => html`<code>${reply.shortcut}</code>` },
    { label: "Text", value: (reply) => html`<span class="clip">${reply.body}</span>` },
    { label: "Teams", value: (reply, lookups) => lookups.namesOf("teams", reply.team_ids) || "Everyone" },
  ],
  fields: [
    { name: "name", label: "Name", required: true },
    {
      name: "shortcut",
      label: "Shortcut",
      required: true,
      hint: "Lowercase words joined by hyphens, such as refund-policy.",
    },
    {
      name: "body",
      label: "Text",
      kind: "textarea",
      required: true,
      hint: "Variables in double braces are filled in: {{customer.first_name}}, {{customer.name}}, {{agent.name}}, {{conversation.subject}}.",
    },
    { name: "team_ids", label: "Seen by teams", kind: "choices", options: teamChoices, hint: teamsHint },
  ],
  createTitle: "Add a canned response",
  createWord: "Add canned response",
  editTitle: (reply) => `Edit ${reply.name}`,
  create: { method: "POST", path: "/v1/canned-responses" },
  update: { method: "PATCH", path: (reply) => `/v1/canned-responses/${reply.id}` },
  actions: [remove("canned response", (reply) => `/v1/canned-responses/${reply.id}`)],
};

// -- routing -----------------------------------------------------------------------------------------

// What a queue's PUT replaces that the form does not show: kept as they are.
const QUEUE_KEPT = ["conditions", "fallback", "aging_per_minute"];

const queues = {
  id: "queues",
  title: "Queues",
  noun: "Queue",
  intro: "New work goes to the first queue (by position) that takes its channel; the strategy picks the agent.",
  list: "/v1/routing/queues",
  empty: "No queues yet.",
  label: (queue) => queue.name,
  columns: [
    { label: "Queue", value: (queue) => queue.name },
    { label: "Channels", value: (queue) => queue.channels.map((c) => labelOf(CHANNELS, c)).join(", ") },
    { label: "Strategy", value: (queue) => labelOf(STRATEGIES, queue.strategy) },
    { label: "Skills", value: (queue) => pairs.format(queue.skills) || "None" },
    { label: "Teams", value: (queue, lookups) => lookups.namesOf("teams", queue.team_ids) || "Everyone" },
    { label: "Position", value: (queue) => queue.position },
  ],
  fields: [
    { name: "name", label: "Name", required: true },
    { name: "channels", label: "Channels", kind: "choices", options: CHANNELS },
    { name: "strategy", label: "Strategy", kind: "select", options: STRATEGIES, default: "skills" },
    { name: "skills", label: "Skills needed", ...pairs, hint: "skill:level (1-5), separated by commas: billing:3, spanish:2." },
    { name: "language", label: "Language", nullable: true, hint: "Only agents speaking it (en, es); empty: any." },
    { name: "team_ids", label: "Teams", kind: "choices", options: teamChoices, hint: teamsHint },
    { name: "position", label: "Position", kind: "number", default: 0 },
    { name: "priority", label: "Priority", kind: "number", default: 0 },
    { name: "offer_timeout_seconds", label: "Offer timeout (seconds)", kind: "number", default: 30 },
    { name: "wrap_up_seconds", label: "Wrap-up (seconds)", kind: "number", default: 0 },
    { name: "sticky_seconds", label: "Sticky for (seconds)", kind: "number", default: 3600 },
    { name: "service_level_seconds", label: "Service level (seconds)", kind: "number", default: 20 },
    {
      name: "escalation_queue_id",
      label: "Escalates to",
      kind: "select",
      empty: "No queue",
      options: queueChoices,
    },
  ],
  body: (body, queue) =>
    queue ? { ...Object.fromEntries(QUEUE_KEPT.map((key) => [key, queue[key]])), ...body } : body,
  createTitle: "Add a queue",
  createWord: "Add queue",
  editTitle: (queue) => `Edit ${queue.name}`,
  create: { method: "POST", path: "/v1/routing/queues" },
  update: { method: "PUT", path: (queue) => `/v1/routing/queues/${queue.id}` },
  affects: ["queues"],
};

// Every active person, with their routing profile where they have one.
async function agentProfiles(lookups) {
  await lookups.ready;
  const people = lookups.users.filter((user) => !user.disabled_at);
  const records = await Promise.all(
    people.map(async (user) => {
      const answer = await call("GET", `/v1/routing/agents/${user.id}`);
      const profile = answer.ok ? answer.body : null;
      return { id: user.id, name: user.name, role: user.role, user_id: user.id, profile: Boolean(profile), ...profile };
    }),
  );
  return { ok: true, records };
}

const agents = {
  id: "agents",
  title: "Agent routing",
  noun: "Routing profile of",
  intro: "What routing knows of each person: skills (1-5), languages and how much work per channel at once.",
  load: agentProfiles,
  empty: "No users yet.",
  label: (agent, lookups) => agent.name ?? lookups.nameOf("users", agent.user_id),
  columns: [
    { label: "Person", value: (agent) => agent.name },
    { label: "Skills", value: (agent) => (agent.profile ? pairs.format(agent.skills) || "None" : "No profile") },
    { label: "Languages", value: (agent) => (agent.profile ? words.format(agent.languages) || "Any" : "") },
    {
      label: "Capacity",
      value: (agent) =>
        agent.profile
          ? CHANNELS.map(([c, name]) => `${name} ${agent.capacity?.[c] ?? 0}`).join(", ")
          : "",
    },
    { label: "Presence", value: (agent) => agent.presence ?? "" },
  ],
  fields: [
    {
      name: "user_id",
      label: "Person",
      kind: "select",
      only: "create",
      local: true,
      options: (lookups) => lookups.users.filter((u) => !u.disabled_at).map((u) => [u.id, `${u.name} (${u.email})`]),
    },
    { name: "skills", label: "Skills", ...pairs, hint: "skill:level (1-5), separated by commas: billing:4, spanish:3." },
    { name: "languages", label: "Languages", ...words, hint: "Separated by commas: en, es." },
    ...CHANNELS.map(([channel, name]) => ({
      name: `capacity.${channel}`,
      label: `${name} at once`,
      kind: "number",
      default: { webchat: 3, email: 2, sms: 3, inapp: 3, voice: 1 }[channel],
    })),
    { name: "voice_with_other_work", label: "Takes calls while working other channels", kind: "checkbox" },
  ],
  createTitle: "Set a routing profile",
  createWord: "Save profile",
  editWord: "Edit profile",
  editTitle: (agent) => `Routing profile of ${agent.name}`,
  create: { method: "PUT", path: (agent, values) => `/v1/routing/agents/${values.user_id}` },
  update: { method: "PUT", path: (agent) => `/v1/routing/agents/${agent.id}` },
};

// -- SLAs --------------------------------------------------------------------------------------------

const policies = {
  id: "sla",
  title: "SLA policies",
  noun: "SLA policy",
  intro: "Targets for first response, next response and resolution, counted in business hours.",
  list: "/v1/sla/policies",
  empty: "No SLA policies yet.",
  label: (policy) => policy.name,
  columns: [
    { label: "Policy", value: (policy) => policy.name },
    {
      label: "Matches",
      value: (policy, lookups) =>
        [
          policy.priority && `priority ${policy.priority}`,
          policy.channel && labelOf(CHANNELS, policy.channel),
          policy.queue_id && `queue ${lookups.nameOf("queues", policy.queue_id)}`,
          policy.customer_tier && `tier ${policy.customer_tier}`,
        ]
          .filter(Boolean)
          .join(", ") || "Every conversation",
    },
    {
      label: "Hours",
      value: (policy, lookups) => (policy.calendar_id ? lookups.nameOf("calendars", policy.calendar_id) : "24/7"),
    },
    {
      label: "Targets",
      value: (policy) =>
        [
          ["first response", policy.first_response_seconds],
          ["next response", policy.next_response_seconds],
          ["resolution", policy.resolution_seconds],
        ]
          .filter(([, seconds]) => seconds)
          .map(([what, seconds]) => `${what} ${duration(seconds)}`)
          .join(", ") || "None",
    },
  ],
  fields: [
    { name: "name", label: "Name", required: true },
    { name: "priority", label: "Priority", kind: "select", empty: "Any", options: PRIORITIES },
    { name: "channel", label: "Channel", kind: "select", empty: "Any", options: CHANNELS },
    { name: "queue_id", label: "Queue", kind: "select", empty: "Any", options: queueChoices },
    { name: "customer_tier", label: "Customer tier", nullable: true, hint: "Empty: any." },
    {
      name: "calendar_id",
      label: "Business hours",
      kind: "select",
      empty: "Around the clock (24/7)",
      options: (lookups) => lookups.calendars.map((c) => [c.id, c.name]),
    },
    { name: "first_response_seconds", label: "First response (seconds)", kind: "number", nullable: true },
    { name: "next_response_seconds", label: "Next response (seconds)", kind: "number", nullable: true },
    { name: "resolution_seconds", label: "Resolution (seconds)", kind: "number", nullable: true },
    { name: "warn_before_seconds", label: "Warn before due (seconds)", kind: "number", nullable: true },
  ],
  createTitle: "Add an SLA policy",
  createWord: "Add policy",
  editTitle: (policy) => `Edit ${policy.name}`,
  create: { method: "POST", path: "/v1/sla/policies" },
  update: { method: "PATCH", path: (policy) => `/v1/sla/policies/${policy.id}` },
  actions: [remove("SLA policy", (policy) => `/v1/sla/policies/${policy.id}`)],
};

// "09:00-12:00, 13:00-17:00" <-> [{start, end, overnight}]; an interval that ends before it starts runs
// overnight.
const intervals = {
  parse: (text) =>
    text
      .split(",")
      .map((part) => part.trim())
      .filter(Boolean)
      .map((part) => {
        const [start = "", end = ""] = part.split("-").map((s) => s.trim());
        return { start, end, overnight: end !== "24:00" && end !== "" && end <= start };
      }),
  format: (value) => (value ?? []).map((i) => `${i.start}-${i.end}`).join(", "),
};

// One holiday a line: "2026-12-25 Christmas".
const holidays = {
  parse: (text) =>
    text
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean)
      .map((line) => {
        const [date, ...name] = line.split(/\s+/);
        return { date, name: name.join(" ") || null };
      }),
  format: (value) => (value ?? []).map((h) => `${h.date}${h.name ? ` ${h.name}` : ""}`).join("\n"),
};

const calendars = {
  id: "calendars",
  title: "Business hours",
  noun: "Calendar",
  intro: "When the SLA clocks run: working hours per weekday in a time zone, and holidays.",
  list: "/v1/sla/calendars",
  empty: "No business hours yet: SLA targets count around the clock.",
  label: (calendar) => calendar.name,
  columns: [
    { label: "Calendar", value: (calendar) => calendar.name },
    { label: "Time zone", value: (calendar) => calendar.timezone },
    {
      label: "Hours",
      value: (calendar) =>
        DAYS.filter(([day]) => calendar.hours[day]?.length)
          .map(([day, name]) => `${name.slice(0, 3)} ${intervals.format(calendar.hours[day])}`)
          .join("; ") || "Always closed",
    },
    { label: "Holidays", value: (calendar) => calendar.holidays.length },
  ],
  fields: [
    { name: "name", label: "Name", required: true },
    { name: "timezone", label: "Time zone", required: true, hint: "An IANA time zone: Europe/Berlin." },
    ...DAYS.map(([day, name]) => ({
      name: `hours.${day}`,
      label: name,
      ...intervals,
      hint: day === "mon" ? "Working hours, such as 09:00-12:00, 13:00-17:00; empty: closed." : undefined,
    })),
    { name: "holidays", label: "Holidays", kind: "textarea", ...holidays, hint: "One a line: 2026-12-25 Christmas." },
  ],
  body: (body) => ({
    ...body,
    hours: Object.fromEntries(Object.entries(body.hours ?? {}).filter(([, list]) => list.length)),
  }),
  createTitle: "Add business hours",
  createWord: "Add calendar",
  editTitle: (calendar) => `Edit ${calendar.name}`,
  create: { method: "POST", path: "/v1/sla/calendars" },
  update: { method: "PATCH", path: (calendar) => `/v1/sla/calendars/${calendar.id}` },
  actions: [remove("calendar", (calendar) => `/v1/sla/calendars/${calendar.id}`)],
  affects: ["calendars"],
};

// -- channels ----------------------------------------------------------------------------------------

// The script tag that puts the chat widget on a site, a box to copy it from, and a page to try it on.
function snippet(section) {
  const settings = section.records?.[0];
  if (!settings) return nothing;
  const id = section.ref("snippet");
  const tag = `<script src="${location.origin}/widget/v1.js" data-tenant="${settings.widget_key}" async></script>`;
  const copy = async () => {
    const box = section.querySelector(`#${id}`);
    box.select();
    try {
      await navigator.clipboard.writeText(tag);
      section.status = "The snippet is copied: paste it into your site's pages.";
    } catch {
      section.status = "Copying was refused by the browser: the snippet is selected, copy it with Ctrl+C.";
    }
  };
  return html`<div class="snippet">
    <h3 id="${id}-title">Put the chat on your site</h3>
    <label for=${id}>Embed snippet (before <code>&lt;/body&gt;</code> of each page)</label>
    <textarea id=${id} readonly rows="2">${tag}</textarea>
    <div class="actions">
      <button type="button" @click=${copy}>Copy snippet</button>
      <a href="/widget/v1/preview/${settings.widget_key}" target="_blank" rel="noopener">Try the widget<span class="visually-hidden"> (opens in a new tab)</span></a>
    </div>
    <p class="hint">Business hours, identity verification and its secret: see the
      <a href="${API_DOCS}#/webchat">API reference</a> (<code>/v1/channels/webchat/settings</code>).</p>
  </div>`;
}

const webchat = {
  id: "webchat",
  title: "Webchat",
  noun: "Webchat",
  intro: "The chat widget on your site: what it says and what it asks before the first message.",
  single: "/v1/channels/webchat/settings",
  label: () => "settings",
  fields: [
    { name: "greeting", label: "Greeting", kind: "textarea", rows: 2 },
    { name: "offline_message", label: "Offline message", kind: "textarea", rows: 2 },
    { name: "prechat.name", label: "Ask for the visitor's name", kind: "select", options: PRECHAT, default: "off" },
    { name: "prechat.email", label: "Ask for the visitor's email", kind: "select", options: PRECHAT, default: "off" },
    { name: "require_verified", label: "Only visitors signed in on your site (verified)", kind: "checkbox" },
  ],
  createTitle: "Turn on webchat",
  createWord: "Turn on webchat",
  editTitle: () => "Widget settings",
  saveWord: "Save settings",
  create: { method: "PUT", path: "/v1/channels/webchat/settings" },
  update: { method: "PUT", path: "/v1/channels/webchat/settings" },
  extra: snippet,
};

const inboxes = {
  id: "email",
  title: "Email inboxes",
  noun: "Inbox",
  intro: "The addresses mail is received at: each becomes conversations on the email channel.",
  list: "/v1/channels/email/inboxes",
  empty: "No inboxes yet.",
  label: (inbox) => inbox.address,
  columns: [
    { label: "Address", value: (inbox) => inbox.address },
    { label: "Sent as", value: (inbox) => inbox.name },
    { label: "Webhook signing key", value: (inbox) => (inbox.has_signing_key ? "Set" : "Not set") },
  ],
  fields: [
    { name: "address", label: "Address", kind: "email", required: true },
    { name: "name", label: "Replies sent as", hint: "The display name, such as Acme Support." },
    { name: "signing_key", label: "Webhook signing key", kind: "password", omitEmpty: true, autocomplete: "off" },
  ],
  createTitle: "Add an inbox",
  createWord: "Add inbox",
  create: { method: "POST", path: "/v1/channels/email/inboxes" },
  actions: [remove("inbox", (inbox) => `/v1/channels/email/inboxes/${inbox.id}`)],
};

const numbers = {
  id: "sms",
  title: "SMS numbers",
  noun: "Number",
  intro: "Phone numbers customers text (and call): registered with their provider account.",
  list: "/v1/channels/sms/numbers",
  empty: "No numbers yet.",
  label: (number) => number.number,
  columns: [
    { label: "Number", value: (number) => number.number },
    { label: "Provider", value: (number) => number.provider },
    { label: "Account", value: (number) => number.account_sid },
    { label: "HELP reply", value: (number) => html`<span class="clip">${number.help_text}</span>` },
  ],
  fields: [
    { name: "number", label: "Number", kind: "tel", required: true, hint: "In any format; stored as +15551234567." },
    { name: "account_sid", label: "Twilio account SID", required: true },
    { name: "auth_token", label: "Twilio auth token", kind: "password", required: true },
    { name: "help_text", label: "HELP reply", kind: "textarea", rows: 2, omitEmpty: true, hint: "Empty: the default." },
  ],
  createTitle: "Register a number",
  createWord: "Register number",
  create: { method: "POST", path: "/v1/channels/sms/numbers" },
  actions: [remove("number", (number) => `/v1/channels/sms/numbers/${number.id}`)],
};

// The phone menu, shown as callers hear it; it is changed through the API.
function menu(section) {
  const ivr = section.records?.[0];
  if (!ivr) return nothing;
  return html`<div class="ivr">
    <p><strong>${ivr.configured ? "Greeting" : "Greeting (the default menu: none set yet)"}:</strong> ${ivr.greeting}</p>
    <div class="table-wrap"><table class="records" id=${section.ref("options")}>
      <caption class="visually-hidden">Menu options</caption>
      <thead><tr><th scope="col">Key</th><th scope="col">Option</th><th scope="col">Says</th><th scope="col">Does</th></tr></thead>
      <tbody>${ivr.options.map(
        (option) => html`<tr><th scope="row">${option.digit}</th><td>${option.key}</td><td>${option.prompt}</td>
          <td>${option.action === "queue" ? `Queue ${option.queue ?? "(default)"}` : "Voicemail"}</td></tr>`,
      )}</tbody>
    </table></div>
    <p class="hint">The menu is changed with <code>PUT /v1/channels/voice/ivr</code>: see the
      <a href="${API_DOCS}#/voice">API reference</a>.</p>
  </div>`;
}

const ivr = {
  id: "ivr",
  title: "Phone menu (IVR)",
  noun: "Menu",
  intro: "What callers hear and the keys (or words) that take them to a queue or to voicemail.",
  single: "/v1/channels/voice/ivr",
  readOnly: true,
  label: () => "menu",
  fields: [],
  extra: menu,
};

export const SECTIONS = [users, teams, canned, queues, agents, policies, calendars, webchat, inboxes, numbers, ivr];
