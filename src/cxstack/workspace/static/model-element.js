// A lit element rendered into the page (no shadow root, so the page's styles and landmarks apply) that
// shows a model: an EventTarget whose "change" events render it again (the desk, the board, a conversation).
import { LitElement } from "lit";

export class ModelElement extends LitElement {
  static properties = { model: { attribute: false } };

  createRenderRoot() {
    return this;
  }

  connectedCallback() {
    super.connectedCallback();
    this.replaceChildren();
    this.onChange = () => this.requestUpdate();
  }

  updated(changed) {
    if (changed.has("model")) {
      changed.get("model")?.removeEventListener("change", this.onChange);
      this.model?.addEventListener("change", this.onChange);
    }
  }
}
