// The administration page: one section at a time, picked by the page's section links (the address's
// #fragment, so that each section can be linked to and the browser's back button works), each a
// <cx-records> driven by its description in admin-sections.js.
import { LitElement, html } from "lit";
import { CxRecords, Lookups } from "./admin-records.js";
import { SECTIONS } from "./admin-sections.js";

customElements.define("cx-records", CxRecords);

class CxAdmin extends LitElement {
  static properties = { current: { state: true } };

  constructor() {
    super();
    this.lookups = new Lookups();
    this.lookups.ready = this.lookups.refresh();
    this.current = this.fromAddress();
    this.onHash = () => this.show(this.fromAddress(), true);
  }

  createRenderRoot() {
    return this;
  }

  connectedCallback() {
    super.connectedCallback();
    this.replaceChildren();
    this.lookups.me = this.getAttribute("user-id");
    window.addEventListener("hashchange", this.onHash);
    this.mark();
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    window.removeEventListener("hashchange", this.onHash);
  }

  fromAddress() {
    const id = location.hash.slice(1);
    return SECTIONS.some((section) => section.id === id) ? id : SECTIONS[0].id;
  }

  // Marks the current section's link, and takes the keyboard to the section's heading when it was picked.
  async show(id, focus) {
    this.current = id;
    this.mark();
    await this.updateComplete;
    if (focus) document.getElementById(`${id}-title`)?.focus();
  }

  mark() {
    for (const link of document.querySelectorAll(".admin-nav a")) {
      if (link.getAttribute("href") === `#${this.current}`) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    }
  }

  render() {
    return SECTIONS.map(
      (spec) => html`<cx-records id="section-${spec.id}" .spec=${spec} .lookups=${this.lookups}
        ?active=${this.current === spec.id} ?hidden=${this.current !== spec.id}></cx-records>`,
    );
  }
}

customElements.define("cx-admin", CxAdmin);
