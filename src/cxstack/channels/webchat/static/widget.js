// cxstack chat widget: a launcher and a chat panel in a shadow root, speaking cxstack's live-chat
// protocol over one WebSocket (see cxstack/channels/webchat/protocol.py).

const STYLE = `
:host { all: initial; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
.cx-launcher { position: fixed; right: 20px; bottom: 20px; width: 56px; height: 56px; border-radius: 50%;
  border: none; background: #2457d6; color: #fff; font-size: 24px; cursor: pointer; z-index: 2147483000;
  box-shadow: 0 4px 14px rgba(0,0,0,.25); }
.cx-panel { position: fixed; right: 20px; bottom: 88px; width: 340px; height: 480px; max-height: 80vh;
  display: none; flex-direction: column; background: #fff; color: #1c1c1c; border-radius: 12px;
  box-shadow: 0 8px 28px rgba(0,0,0,.25); overflow: hidden; z-index: 2147483000; font-size: 14px; }
.cx-panel.cx-open { display: flex; }
.cx-header { background: #2457d6; color: #fff; padding: 12px 14px; font-weight: 600; }
.cx-notice { padding: 8px 14px; background: #fff6d6; font-size: 13px; display: none; }
.cx-notice.cx-shown { display: block; }
.cx-messages { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 6px; }
.cx-message { max-width: 80%; padding: 8px 10px; border-radius: 10px; white-space: pre-wrap;
  word-wrap: break-word; }
.cx-inbound { align-self: flex-end; background: #2457d6; color: #fff; }
.cx-outbound { align-self: flex-start; background: #eef0f4; }
.cx-pending { opacity: .6; }
.cx-failed { opacity: .6; text-decoration: line-through; }
.cx-composer textarea:disabled, .cx-composer button:disabled { opacity: .5; cursor: not-allowed; }
.cx-receipt { font-size: 11px; opacity: .8; display: block; text-align: right; }
.cx-typing { padding: 0 14px 6px; font-size: 12px; color: #666; min-height: 18px; visibility: hidden; }
.cx-typing.cx-shown { visibility: visible; }
.cx-error { padding: 6px 14px; color: #a40000; font-size: 12px; display: none; }
.cx-error.cx-shown { display: block; }
form { margin: 0; }
.cx-form { padding: 10px 14px; display: none; flex-direction: column; gap: 6px; border-top: 1px solid #e3e3e3; }
.cx-form.cx-shown { display: flex; }
.cx-form input { padding: 7px; border: 1px solid #ccc; border-radius: 6px; font-size: 14px; }
.cx-composer { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #e3e3e3; align-items: flex-end; }
.cx-composer textarea { flex: 1; resize: none; height: 40px; padding: 8px; border: 1px solid #ccc;
  border-radius: 6px; font-size: 14px; }
button { cursor: pointer; }
.cx-send, .cx-form button { background: #2457d6; color: #fff; border: none; border-radius: 6px; padding: 8px 12px; }
.cx-attach { background: none; border: 1px solid #ccc; border-radius: 6px; padding: 8px; }
.cx-file { display: none; }
.cx-attachment { display: block; font-size: 12px; text-decoration: underline; color: inherit; }
`;

const TEMPLATE = `
<button class="cx-launcher" part="launcher" aria-label="Open chat">💬</button>
<section class="cx-panel" role="dialog" aria-label="Chat">
  <div class="cx-header">Chat with us</div>
  <div class="cx-notice" role="status"></div>
  <div class="cx-messages" role="log" aria-live="polite"></div>
  <div class="cx-typing" aria-live="polite">Agent is typing…</div>
  <div class="cx-error" role="alert"></div>
  <form class="cx-form cx-prechat">
    <input class="cx-name" name="name" placeholder="Your name" autocomplete="name">
    <input class="cx-email" name="email" type="email" placeholder="Your email" autocomplete="email">
    <button type="submit">Start chat</button>
  </form>
  <div class="cx-composer">
    <input class="cx-file" type="file">
    <button class="cx-attach" type="button" aria-label="Attach a file">📎</button>
    <textarea class="cx-input" placeholder="Write a message…" aria-label="Message"></textarea>
    <button class="cx-send" type="button">Send</button>
  </div>
</section>
`;

const TYPING_SENT_EVERY_MS = 2000;
const TYPING_IDLE_MS = 3000;
const TYPING_SHOWN_MS = 6000;

function newClientId() {
  if (window.crypto && window.crypto.randomUUID) {
    return window.crypto.randomUUID();
  }
  return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2);
}

class ChatWidget {
  constructor(options) {
    this.key = options.key;
    this.userId = options.userId || null;
    this.userHash = options.userHash || null;
    this.base = options.base;
    this.storageKey = "cxstack:" + this.key;
    this.visitorId = this.load("visitor");
    this.outbox = this.load("outbox") || [];
    this.rendered = new Map(); // message id or client id -> element
    this.lastId = null;
    this.socket = null;
    this.welcome = null;
    this.retryMs = 500;
    this.closedForGood = false;
    this.typingSentAt = 0;
    this.typingTimer = null;
    this.shownTypingTimer = null;
    this.render();
    this.connect();
    if (options.open) {
      this.toggle(true);
    }
  }

  // -- storage --------------------------------------------------------------------------------------

  load(name) {
    try {
      const raw = window.localStorage.getItem(this.storageKey + ":" + name);
      return raw === null ? null : JSON.parse(raw);
    } catch (error) {
      return null;
    }
  }

  save(name, value) {
    try {
      window.localStorage.setItem(this.storageKey + ":" + name, JSON.stringify(value));
    } catch (error) {
      // storage full or blocked: the chat still works for this page
    }
  }

  // -- DOM ------------------------------------------------------------------------------------------

  render() {
    this.host = document.createElement("div");
    this.host.setAttribute("data-cxstack-chat", "");
    this.host.dataset.status = "connecting";
    this.root = this.host.attachShadow({ mode: "open" });
    const style = document.createElement("style");
    style.textContent = STYLE;
    this.root.appendChild(style);
    const wrapper = document.createElement("div");
    wrapper.innerHTML = TEMPLATE;
    while (wrapper.firstElementChild) {
      this.root.appendChild(wrapper.firstElementChild);
    }
    const $ = (selector) => this.root.querySelector(selector);
    this.panel = $(".cx-panel");
    this.list = $(".cx-messages");
    this.notice = $(".cx-notice");
    this.typing = $(".cx-typing");
    this.error = $(".cx-error");
    this.form = $(".cx-prechat");
    this.input = $(".cx-input");
    this.fileInput = $(".cx-file");
    $(".cx-launcher").addEventListener("click", () => this.toggle());
    $(".cx-send").addEventListener("click", () => this.sendTyped());
    $(".cx-attach").addEventListener("click", () => this.fileInput.click());
    this.fileInput.addEventListener("change", () => this.attach());
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        this.sendTyped();
      }
    });
    this.input.addEventListener("input", () => this.typed());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendContact();
    });
    document.addEventListener("visibilitychange", () => this.markRead());
    document.body.appendChild(this.host);
  }

  toggle(open) {
    const opening = open === undefined ? !this.panel.classList.contains("cx-open") : open;
    this.panel.classList.toggle("cx-open", opening);
    if (opening) {
      this.markRead();
      this.input.focus();
    }
  }

  showError(text) {
    this.error.textContent = text || "";
    this.error.classList.toggle("cx-shown", Boolean(text));
  }

  showNotice(text) {
    this.notice.textContent = text || "";
    this.notice.classList.toggle("cx-shown", Boolean(text));
  }

  showForm(fields) {
    const wanted = new Set(fields);
    this.form.querySelector(".cx-name").style.display = wanted.has("name") ? "" : "none";
    this.form.querySelector(".cx-email").style.display = wanted.has("email") ? "" : "none";
    this.form.classList.toggle("cx-shown", wanted.size > 0);
  }

  renderMessage(message, pending) {
    const known = this.rendered.get(message.id) || (message.client_id && this.rendered.get(message.client_id));
    const element = known || document.createElement("div");
    element.className = "cx-message " + (message.direction === "inbound" ? "cx-inbound" : "cx-outbound");
    element.classList.toggle("cx-pending", Boolean(pending));
    element.textContent = message.body;
    for (const attachment of message.attachments || []) {
      const link = document.createElement("a");
      link.className = "cx-attachment";
      link.textContent = "📎 " + attachment.name;
      link.target = "_blank";
      link.rel = "noopener";
      if (attachment.download_url) {
        // A signed link of this conversation; once it expired, a click fetches a fresh one.
        link.href = attachment.download_url;
        link.addEventListener("click", (event) => this.openAttachment(event, link, message.id, attachment.url));
      }
      element.appendChild(link);
    }
    if (message.id) {
      element.dataset.id = message.id;
      this.rendered.set(message.id, element);
    }
    if (message.client_id) {
      element.dataset.clientId = message.client_id;
      this.rendered.set(message.client_id, element);
    }
    if (!known) {
      this.list.appendChild(element);
    }
    if (message.id && !pending && (!this.lastId || message.id > this.lastId)) {
      this.lastId = message.id;
    }
    this.list.scrollTop = this.list.scrollHeight;
    return element;
  }

  setReceipt(messageId, receipt) {
    const element = this.rendered.get(messageId);
    if (!element) {
      return;
    }
    if (element.dataset.receipt === "read" && receipt === "delivered") {
      return;
    }
    element.dataset.receipt = receipt;
    let mark = element.querySelector(".cx-receipt");
    if (!mark) {
      mark = document.createElement("span");
      mark.className = "cx-receipt";
      element.appendChild(mark);
    }
    mark.textContent = receipt === "read" ? "Read" : "Delivered";
  }

  // -- the socket -----------------------------------------------------------------------------------

  socketUrl() {
    const url = new URL("ws/webchat", this.base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.href;
  }

  async openAttachment(event, link, messageId, fileUrl) {
    const expires = Number(new URL(link.href).searchParams.get("expires") || 0);
    if (expires * 1000 > Date.now() + 5000) {
      return;
    }
    event.preventDefault();
    const full = await this.fetchMessage(messageId);
    const fresh = full && (full.attachments || []).find((item) => item.url === fileUrl);
    if (fresh && fresh.download_url) {
      link.href = fresh.download_url;
      window.open(fresh.download_url, "_blank", "noopener");
    }
  }

  connect() {
    if (this.closedForGood) {
      return;
    }
    this.host.dataset.status = "connecting";
    const socket = new WebSocket(this.socketUrl());
    this.socket = socket;
    socket.addEventListener("open", () => {
      const hello = { type: "hello", widget_key: this.key };
      if (this.visitorId) {
        // Signed in now after chatting anonymously: the server makes the chat the user's.
        hello.visitor_id = this.visitorId;
      }
      if (this.userId) {
        hello.user_id = this.userId;
        hello.user_hash = this.userHash || "";
      }
      if (this.lastId) {
        hello.after = this.lastId;
      }
      socket.send(JSON.stringify(hello));
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      this.receive(frame);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) {
        return;
      }
      this.socket = null;
      this.host.dataset.status = "disconnected";
      if (event.code === 1008 || event.code === 1003 || event.code === 1007) {
        this.closeForGood(event.reason);
        return;
      }
      const wait = this.retryMs;
      this.retryMs = Math.min(this.retryMs * 2, 15000);
      window.setTimeout(() => this.connect(), wait);
    });
  }

  /**
   * The server refused this page's chat for good (a wrong identity hash, an unknown key): the widget stays
   * closed. It shows why, takes no more input, and says that what was typed was not sent (it never will
   * be from this page).
   */
  closeForGood(reason) {
    this.closedForGood = true;
    this.host.dataset.status = "closed";
    if (!this.error.classList.contains("cx-shown")) {
      this.showError(reason || "The chat is not available on this page.");
    }
    for (const selector of [".cx-input", ".cx-send", ".cx-attach", ".cx-file"]) {
      this.root.querySelector(selector).disabled = true;
    }
    this.input.placeholder = "Chat unavailable";
    this.form.classList.remove("cx-shown");
    for (const item of this.outbox) {
      const element = this.rendered.get(item.client_id);
      if (element) {
        element.classList.remove("cx-pending");
        element.classList.add("cx-failed");
        element.title = "Not sent";
      }
    }
    // Typed under an identity that was refused: never sent later either.
    this.outbox = [];
    this.save("outbox", this.outbox);
  }

  /** Close the connection as a network drop would; the widget reconnects and resumes. */
  drop() {
    if (this.socket) {
      this.socket.close(4000, "dropped");
    }
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN && this.welcome) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  receive(frame) {
    switch (frame.type) {
      case "welcome":
        this.welcomed(frame);
        break;
      case "signed_in":
        this.signedIn(frame);
        break;
      case "ack":
        this.outbox = this.outbox.filter((item) => item.client_id !== frame.client_id);
        this.save("outbox", this.outbox);
        this.renderMessage(frame.message, false);
        break;
      case "message":
        this.incoming(frame.message);
        break;
      case "typing":
        this.showTyping(frame.state);
        break;
      case "receipt":
        this.setReceipt(frame.message_id, frame.receipt);
        break;
      case "offline":
        this.showNotice(frame.message);
        this.showForm(["email"]);
        break;
      case "contact_saved":
        this.welcome.missing = frame.missing;
        this.showForm(frame.missing);
        if (frame.continues_by === "email") {
          this.showNotice("Thanks! We'll answer by email at " + frame.contact.email + ".");
        }
        this.flush();
        break;
      case "conversation":
        if (frame.event === "channel_changed" && frame.data.to_channel === "email") {
          this.showNotice("This conversation continues by email.");
        }
        break;
      case "resync":
        this.drop();
        break;
      case "error":
        this.failed(frame);
        break;
      default:
        break;
    }
  }

  welcomed(frame) {
    this.welcome = frame;
    this.retryMs = 500;
    this.host.dataset.status = "online";
    if (frame.visitor_id !== this.visitorId) {
      this.visitorId = frame.visitor_id;
      this.save("visitor", frame.visitor_id);
    }
    this.root.querySelector(".cx-header").textContent = frame.greeting || "Chat with us";
    let newestReply = null;
    for (const message of frame.history) {
      this.renderMessage(message, false);
      if (message.direction === "outbound") {
        newestReply = message;
      }
    }
    if (newestReply) {
      // One receipt covers the replies before it.
      this.received(newestReply);
    }
    for (const item of this.outbox) {
      this.renderMessage({ body: item.body, client_id: item.client_id, direction: "inbound", attachments: item.attachments }, true);
    }
    this.showNotice(frame.online ? "" : frame.offline_message);
    const missing = frame.online ? frame.missing : [...new Set([...frame.missing, ...(frame.contact.email ? [] : ["email"])])];
    this.showForm(missing);
    this.flush();
  }

  /** The page signed its user in: the chat so far becomes theirs (the server answers with signed_in). */
  signIn(userId, userHash) {
    this.userId = userId;
    this.userHash = userHash;
    return this.send({ type: "auth", user_id: userId, user_hash: userHash });
  }

  signedIn(frame) {
    this.welcome = { ...this.welcome, verified: true, missing: frame.missing, contact: frame.contact };
    if (frame.visitor_id !== this.visitorId) {
      this.visitorId = frame.visitor_id;
      this.save("visitor", frame.visitor_id);
    }
    for (const message of frame.history) {
      this.renderMessage(message, false);
    }
    this.showForm(frame.missing);
    this.flush();
  }

  flush() {
    if (this.welcome && this.welcome.missing && this.welcome.missing.length) {
      return;
    }
    for (const item of this.outbox) {
      this.send({ type: "message", client_id: item.client_id, body: item.body, attachments: item.attachments });
    }
  }

  incoming(message) {
    if (message.attachments === undefined) {
      message.attachments = [];
      if (message.attachments_count > 0) {
        this.fetchAttachments(message);
      }
    }
    this.renderMessage(message, false);
    this.received(message);
  }

  async fetchAttachments(message) {
    // Live frames count a message's attachments; the messages endpoint lists them.
    const full = await this.fetchMessage(message.id);
    if (full) {
      this.renderMessage(full, false);
    }
  }

  async fetchMessage(messageId) {
    const url = new URL("widget/v1/messages", this.base);
    url.searchParams.set("widget_key", this.key);
    url.searchParams.set("visitor_id", this.visitorId || "");
    try {
      const answer = await (await fetch(url.href)).json();
      return (answer.data || []).find((item) => item.id === messageId) || null;
    } catch (error) {
      return null; // shown without its attachments until the next reload
    }
  }

  received(message) {
    if (message.direction !== "outbound") {
      return;
    }
    this.showTyping(false);
    this.send({ type: "delivered", message_id: message.id });
    this.markRead();
  }

  markRead() {
    if (!this.panel.classList.contains("cx-open") || document.visibilityState !== "visible") {
      return;
    }
    let newest = null;
    for (const element of this.list.querySelectorAll(".cx-outbound")) {
      if (element.dataset.id && element.dataset.readSent !== "1") {
        newest = element;
        element.dataset.readSent = "1";
      }
    }
    if (newest) {
      this.send({ type: "read", message_id: newest.dataset.id });
    }
  }

  failed(frame) {
    if (frame.client_id && frame.code !== "prechat_required") {
      // The server refused this message for good: it will not be resent.
      this.outbox = this.outbox.filter((item) => item.client_id !== frame.client_id);
      this.save("outbox", this.outbox);
      const element = this.rendered.get(frame.client_id);
      if (element) {
        element.remove();
      }
    }
    if (frame.code === "prechat_required") {
      this.showForm(frame.missing || []);
    }
    this.showError(frame.detail);
  }

  showTyping(state) {
    this.typing.classList.toggle("cx-shown", Boolean(state));
    window.clearTimeout(this.shownTypingTimer);
    if (state) {
      this.shownTypingTimer = window.setTimeout(() => this.showTyping(false), TYPING_SHOWN_MS);
    }
  }

  // -- what the visitor does ------------------------------------------------------------------------

  sendTyped() {
    const body = this.input.value;
    if (!body.trim()) {
      return;
    }
    this.input.value = "";
    this.post(body, []);
    this.stopTyping();
  }

  post(body, attachments) {
    if (this.closedForGood) {
      return;
    }
    this.showError("");
    const item = { client_id: newClientId(), body: body, attachments: attachments };
    this.outbox.push(item);
    this.save("outbox", this.outbox);
    this.renderMessage({ body: body, client_id: item.client_id, direction: "inbound", attachments: attachments }, true);
    if (!(this.welcome && this.welcome.missing && this.welcome.missing.length)) {
      this.send({ type: "message", client_id: item.client_id, body: body, attachments: attachments });
    }
  }

  typed() {
    const now = Date.now();
    if (now - this.typingSentAt > TYPING_SENT_EVERY_MS) {
      this.typingSentAt = now;
      this.send({ type: "typing", state: true });
    }
    window.clearTimeout(this.typingTimer);
    this.typingTimer = window.setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    window.clearTimeout(this.typingTimer);
    if (this.typingSentAt) {
      this.typingSentAt = 0;
      this.send({ type: "typing", state: false });
    }
  }

  sendContact() {
    const name = this.form.querySelector(".cx-name").value.trim();
    const email = this.form.querySelector(".cx-email").value.trim();
    const frame = { type: "contact" };
    if (name) {
      frame.name = name;
    }
    if (email) {
      frame.email = email;
    }
    this.send(frame);
  }

  async attach() {
    const file = this.fileInput.files[0];
    this.fileInput.value = "";
    if (!file || !this.visitorId) {
      return;
    }
    const url = new URL("widget/v1/uploads", this.base);
    url.searchParams.set("widget_key", this.key);
    url.searchParams.set("visitor_id", this.visitorId);
    const body = new FormData();
    body.append("file", file, file.name);
    try {
      const response = await fetch(url.href, { method: "POST", body: body });
      const answer = await response.json();
      if (!response.ok) {
        this.showError(answer.detail || "The file could not be uploaded.");
        return;
      }
      this.post("", [answer]);
    } catch (error) {
      this.showError("The file could not be uploaded.");
    }
  }
}

export function mount(options) {
  if (!options.key) {
    console.error("cxstack chat widget: the script tag needs data-tenant=\"<public widget key>\"");
    return null;
  }
  return new ChatWidget(options);
}
