// The administration's building block: one section of records (a table of what the API lists, and a
// form that creates a record or edits the one picked), driven by a small description of the section
// (see admin-sections.js). Every answer of the API that is not a success is shown beside the form as the
// problem's detail, with the field it names marked invalid; nothing is dropped silently.
import { LitElement, html, nothing } from "lit";
import { call } from "./api.js";

// The words of a failed answer: the problem's detail (what the API says is wrong).
export function problemText(answer) {
  const body = answer.body ?? {};
  return body.detail || body.title || `The request failed (HTTP ${answer.status}).`;
}

// Every record of a paginated list (``data`` and ``next_cursor``), or the problem that stopped it.
export async function listAll(path) {
  const records = [];
  let cursor = null;
  const join = path.includes("?") ? "&" : "?";
  for (let page = 0; page < 100; page += 1) {
    const more = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const answer = await call("GET", `${path}${join}limit=200${more}`);
    if (!answer.ok) return { ok: false, detail: problemText(answer) };
    records.push(...(answer.body?.data ?? []));
    cursor = answer.body?.next_cursor;
    if (!cursor) break;
  }
  return { ok: true, records };
}

// What several sections offer as choices (a user's teams, a policy's queue): the tenant's teams, users,
// queues and calendars, read again when a section changes them.
export class Lookups extends EventTarget {
  static SOURCES = {
    teams: "/v1/teams",
    users: "/v1/users",
    queues: "/v1/routing/queues",
    calendars: "/v1/sla/calendars",
  };

  constructor() {
    super();
    this.teams = [];
    this.users = [];
    this.queues = [];
    this.calendars = [];
  }

  async refresh(kinds = Object.keys(Lookups.SOURCES)) {
    await Promise.all(
      kinds.map(async (kind) => {
        const answer = await listAll(Lookups.SOURCES[kind]);
        if (answer.ok) this[kind] = answer.records;
      }),
    );
    this.dispatchEvent(new Event("change"));
  }

  nameOf(kind, id) {
    return this[kind].find((record) => record.id === id)?.name ?? id;
  }

  namesOf(kind, ids) {
    return (ids ?? []).map((id) => this.nameOf(kind, id)).join(", ");
  }
}

// -- how a field's text becomes the body's value, and back ------------------------------------------

export const getPath = (record, name) =>
  name.split(".").reduce((value, part) => (value == null ? undefined : value[part]), record);

function setPath(body, name, value) {
  const parts = name.split(".");
  let target = body;
  for (const part of parts.slice(0, -1)) target = target[part] ??= {};
  target[parts.at(-1)] = value;
}

// "billing:4, spanish:2" <-> {billing: 4, spanish: 2}; a level that is not a number goes as typed, for the
// API to name.
export const pairs = {
  parse: (text) =>
    Object.fromEntries(
      text
        .split(",")
        .map((part) => part.trim())
        .filter(Boolean)
        .map((part) => {
          const [key, level = ""] = part.split(":").map((s) => s.trim());
          return [key, level === "" || Number.isNaN(Number(level)) ? level : Number(level)];
        }),
    ),
  format: (value) =>
    Object.entries(value ?? {})
      .map(([key, level]) => `${key}:${level}`)
      .join(", "),
};

// "en, es" <-> ["en", "es"].
export const words = {
  parse: (text) =>
    text
      .split(",")
      .map((part) => part.trim())
      .filter(Boolean),
  format: (value) => (value ?? []).join(", "),
};

// What a field's text is as the body's value, per kind (a field may bring its own ``parse``).
function valueOf(field, text) {
  if (field.parse) return field.parse(text);
  switch (field.kind) {
    case "checkbox":
    case "choices":
      return text;
    case "number":
      if (text === "") return field.nullable ? null : undefined;
      return Number.isNaN(Number(text)) ? text : Number(text);
    case "select":
      return text === "" && field.empty !== undefined ? null : text;
    default:
      if (text === "" && field.omitEmpty) return undefined;
      return text === "" && field.nullable ? null : text;
  }
}

// A field's text for a record (or its default for a new one).
function textOf(field, record) {
  const value = (record ? getPath(record, field.name) : undefined) ?? field.default;
  if (field.format) return field.format(value);
  if (field.kind === "checkbox") return Boolean(value);
  if (field.kind === "choices") return [...(value ?? [])];
  return value == null ? "" : String(value);
}

const choicesOf = (field, lookups) =>
  (typeof field.options === "function" ? field.options(lookups) : field.options).map((option) =>
    Array.isArray(option) ? option : [option, option],
  );

// -- the element ------------------------------------------------------------------------------------

export class CxRecords extends LitElement {
  static properties = {
    spec: { attribute: false },
    lookups: { attribute: false },
    active: { type: Boolean },
    records: { state: true },
    editing: { state: true },
    values: { state: true },
    problem: { state: true },
    listProblem: { state: true },
    status: { state: true },
    busy: { state: true },
  };

  constructor() {
    super();
    this.records = null;
    this.editing = null;
    this.values = {};
    this.problem = null;
    this.listProblem = "";
    this.status = "";
    this.busy = false;
    this.onLookups = () => this.requestUpdate();
  }

  createRenderRoot() {
    return this;
  }

  connectedCallback() {
    super.connectedCallback();
    this.replaceChildren();
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.lookups?.removeEventListener("change", this.onLookups);
  }

  willUpdate(changed) {
    if (changed.has("lookups")) {
      changed.get("lookups")?.removeEventListener("change", this.onLookups);
      this.lookups?.addEventListener("change", this.onLookups);
    }
    if (changed.has("spec")) this.values = this.blank();
    // A section reads its records when first shown, and again each time it is shown (another section
    // may have changed them: a team's members are its users' teams).
    if (changed.has("active") && this.active) {
      this.load();
    }
  }

  ref(part) {
    return `${this.spec.id}-${part}`;
  }

  fields(mode) {
    return this.spec.fields.filter((field) => !field.only || field.only === mode);
  }

  blank(record = null) {
    const mode = record ? "edit" : "create";
    return Object.fromEntries(this.fields(mode).map((field) => [field.name, textOf(field, record)]));
  }

  async load() {
    const spec = this.spec;
    if (spec.single) {
      const answer = await call("GET", spec.single);
      if (answer.ok) {
        this.records = [answer.body];
        if (!spec.readOnly) this.edit(answer.body, { focus: false });
      } else if (answer.status === 404) {
        this.records = [];
      } else {
        this.listProblem = problemText(answer);
      }
      return;
    }
    const answer = spec.load ? await spec.load(this.lookups) : await listAll(spec.list);
    if (answer.ok) {
      this.records = answer.records;
      this.listProblem = "";
    } else {
      this.listProblem = answer.detail;
    }
  }

  // Shows what the API said went wrong beside the form, and puts the keyboard on the field it names.
  async refuse(answer) {
    this.problem = { detail: problemText(answer), field: answer.body?.field ?? null };
    await this.updateComplete;
    const field = this.fields(this.editing ? "edit" : "create").find((f) => this.names(f, this.problem));
    (field ? this.querySelector(`#${this.ref(field.name.replaceAll(".", "-"))}`) : null)?.focus();
  }

  names(field, problem) {
    const path = problem?.field;
    const name = field.apiField ?? field.name;
    return Boolean(path) && (path === name || path.startsWith(`${name}.`) || path.startsWith(`${name}[`));
  }

  body(mode) {
    const body = {};
    for (const field of this.fields(mode)) {
      if (field.local) continue;
      const value = valueOf(field, this.values[field.name]);
      if (value !== undefined) setPath(body, field.name, value);
    }
    return this.spec.body ? this.spec.body(body, this.editing, this.values) : body;
  }

  async save(event) {
    event.preventDefault();
    if (this.busy) return;
    const spec = this.spec;
    const record = this.editing;
    const target = record ? spec.update : spec.create;
    const path = typeof target.path === "function" ? target.path(record, this.values) : target.path;
    this.busy = true;
    const answer = await call(target.method, path, this.body(record ? "edit" : "create"));
    this.busy = false;
    if (!answer.ok) return this.refuse(answer);
    this.problem = null;
    const name = spec.label(answer.body ?? record ?? {}, this.lookups);
    this.status = record ? `${spec.noun} ${name} saved.` : `${spec.noun} ${name} created.`;
    this.editing = null;
    this.values = this.blank();
    await this.load();
    if (spec.affects) await this.lookups.refresh(spec.affects);
    await this.updateComplete;
    this.querySelector(`#${this.ref("status")}`)?.focus();
  }

  edit(record, { focus = true } = {}) {
    this.editing = record;
    this.values = this.blank(record);
    this.problem = null;
    if (!focus) return;
    this.updateComplete.then(() => {
      const first = this.querySelector(`#${this.ref("form")} input, #${this.ref("form")} select, #${this.ref("form")} textarea`);
      first?.focus();
    });
  }

  cancel() {
    this.editing = null;
    this.values = this.blank();
    this.problem = null;
  }

  // Runs a change that is not the form's (disable a user, remove a member) and says how it went.
  async run(method, path, body, done) {
    const answer = await call(method, path, body);
    if (!answer.ok) {
      this.listProblem = problemText(answer);
      this.status = "";
      return false;
    }
    this.listProblem = "";
    this.status = done;
    await this.load();
    if (this.spec.affects) await this.lookups.refresh(this.spec.affects);
    return true;
  }

  async act(action, record) {
    if (action.confirm && !window.confirm(action.confirm(record))) return;
    const body = action.body ? action.body(record) : undefined;
    await this.run(action.method, action.path(record), body, action.done(record));
    if (this.editing?.id === record.id) this.cancel();
  }

  set(name, value) {
    this.values = { ...this.values, [name]: value };
  }

  // -- rendering --

  field(field) {
    const id = this.ref(field.name.replaceAll(".", "-"));
    const value = this.values[field.name];
    const invalid = this.names(field, this.problem);
    const described = [field.hint ? `${id}-hint` : "", invalid ? this.ref("problem") : ""].filter(Boolean).join(" ");
    const hint = field.hint ? html`<p id="${id}-hint" class="hint">${field.hint}</p>` : nothing;
    const kind = field.kind ?? "text";
    if (kind === "checkbox") {
      return html`<div class="field field-check">
        <label><input type="checkbox" id=${id} .checked=${Boolean(value)} aria-invalid=${invalid ? "true" : "false"}
          aria-describedby=${described || nothing}
          @change=${(e) => this.set(field.name, e.target.checked)}> ${field.label}</label>${hint}</div>`;
    }
    if (kind === "choices") {
      const options = choicesOf(field, this.lookups);
      return html`<fieldset class="field choices" id=${id} aria-describedby=${described || nothing}>
        <legend>${field.label}</legend>
        ${options.length === 0 ? html`<p class="muted">${field.none ?? "Nothing to choose from yet."}</p>` : nothing}
        ${options.map(
          ([option, label]) => html`<label><input type="checkbox" value=${option}
            .checked=${value.includes(option)} aria-invalid=${invalid ? "true" : "false"}
            @change=${(e) =>
              this.set(
                field.name,
                e.target.checked ? [...value, option] : value.filter((v) => v !== option),
              )}> ${label}</label>`,
        )}
        ${hint}
      </fieldset>`;
    }
    let control;
    if (kind === "select") {
      const options = choicesOf(field, this.lookups);
      control = html`<select id=${id} aria-invalid=${invalid ? "true" : "false"} aria-describedby=${described || nothing}
        @change=${(e) => this.set(field.name, e.target.value)}>
        ${field.empty !== undefined ? html`<option value="" ?selected=${value === ""}>${field.empty}</option>` : nothing}
        ${options.map(([option, label]) => html`<option value=${option} ?selected=${value === option}>${label}</option>`)}
      </select>`;
    } else if (kind === "textarea") {
      control = html`<textarea id=${id} rows=${field.rows ?? 4} .value=${value} ?required=${field.required}
        aria-invalid=${invalid ? "true" : "false"} aria-describedby=${described || nothing}
        @input=${(e) => this.set(field.name, e.target.value)}></textarea>`;
    } else {
      control = html`<input id=${id} type=${kind} .value=${value} ?required=${field.required}
        autocomplete=${field.autocomplete ?? "off"} aria-invalid=${invalid ? "true" : "false"}
        aria-describedby=${described || nothing} @input=${(e) => this.set(field.name, e.target.value)}>`;
    }
    return html`<div class="field"><label for=${id}>${field.label}</label>${control}${hint}</div>`;
  }

  table() {
    const spec = this.spec;
    if (this.records === null) return html`<p class="muted">Loading…</p>`;
    if (this.records.length === 0) return html`<p class="muted empty">${spec.empty}</p>`;
    return html`<div class="table-wrap"><table class="records" id=${this.ref("list")}>
      <caption class="visually-hidden">${spec.title}</caption>
      <thead><tr>
        ${spec.columns.map((column) => html`<th scope="col">${column.label}</th>`)}
        ${spec.update || spec.actions ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : nothing}
      </tr></thead>
      <tbody>${this.records.map((record) => this.row(record))}</tbody>
    </table></div>`;
  }

  row(record) {
    const spec = this.spec;
    const name = spec.label(record, this.lookups);
    const actions = (spec.actions ?? []).filter((action) => !action.when || action.when(record, this.lookups));
    const [first, ...rest] = spec.columns;
    return html`<tr data-id=${record.id}>
      <th scope="row">${first.value(record, this.lookups, this)}</th>
      ${rest.map((column) => html`<td>${column.value(record, this.lookups, this)}</td>`)}
      ${spec.update || spec.actions
        ? html`<td class="row-actions"><div>
            ${spec.update
              ? html`<button class="secondary" aria-label="${spec.editWord ?? "Edit"} ${name}"
                  @click=${() => this.edit(record)}>${spec.editWord ?? "Edit"}</button>`
              : nothing}
            ${actions.map(
              (action) => html`<button class="secondary" aria-label="${action.label} ${name}"
                @click=${() => this.act(action, record)}>${action.label}</button>`,
            )}
          </div></td>`
        : nothing}
    </tr>`;
  }

  form() {
    const spec = this.spec;
    if (spec.readOnly || (!spec.create && !this.editing)) return nothing;
    const mode = this.editing ? "edit" : "create";
    const title = this.editing ? spec.editTitle(this.editing) : spec.createTitle;
    return html`<form class="record-form" id=${this.ref("form")} aria-labelledby=${this.ref("form-title")} novalidate
        @submit=${(e) => this.save(e)}>
      <h3 id=${this.ref("form-title")}>${title}</h3>
      ${this.problem
        ? html`<p class="error" role="alert" id=${this.ref("problem")}>${this.problem.detail}</p>`
        : nothing}
      ${this.fields(mode).map((field) => this.field(field))}
      <div class="actions">
        <button type="submit" ?disabled=${this.busy}>${this.editing ? spec.saveWord ?? "Save changes" : spec.createWord}</button>
        ${this.editing && !spec.single
          ? html`<button type="button" class="secondary" @click=${() => this.cancel()}>Cancel</button>`
          : nothing}
      </div>
    </form>`;
  }

  render() {
    const spec = this.spec;
    if (!spec) return nothing;
    return html`<section class="admin-section" aria-labelledby=${this.ref("title")}>
      <h2 id=${this.ref("title")} tabindex="-1">${spec.title}</h2>
      ${spec.intro ? html`<p class="intro">${spec.intro}</p>` : nothing}
      <p class="status" id=${this.ref("status")} role="status" tabindex="-1">${this.status}</p>
      ${this.listProblem ? html`<p class="error" role="alert" id=${this.ref("list-problem")}>${this.listProblem}</p>` : nothing}
      ${spec.single ? nothing : this.table()}
      ${spec.extra ? spec.extra(this) : nothing}
      ${this.form()}
    </section>`;
  }
}
