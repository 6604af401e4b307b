// A socket of the signed-in person (opened with the session cookie), kept open: a lost socket is opened
// again after a growing delay (1 s, 2 s, 4 s … 30 s at most). The routing socket (/ws/routing) starts
// each opening with a `ready` frame holding the offers and work of that moment, from which the page
// starts over; the agent socket (/ws/agent) with a `welcome` frame, after which the page reads what it
// missed meanwhile.
//
// Events: "frame" (detail: a frame), "state" (detail: "connecting" | "open" | "reconnecting" | "refused"),
// "refused" (detail: the error frame of a socket the server would not open: not retried).

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
const PING_EVERY_MS = 25000;

export class RoutingFeed extends EventTarget {
  constructor(path = "/ws/routing", readyType = "ready") {
    super();
    this.path = path;
    this.readyType = readyType;
    this.delay = FIRST_DELAY_MS;
    this.socket = null;
    this.stopped = false;
    this.pinger = null;
  }

  start() {
    this.stopped = false;
    this.#open();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.pinger);
    this.socket?.close();
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${this.path}`);
    this.socket = socket;
    let refusal = null;
    this.#emit("state", "connecting");
    socket.addEventListener("message", (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (frame.type === this.readyType) {
        this.delay = FIRST_DELAY_MS;
        this.#emit("state", "open");
      } else if (frame.type === "error" && !frame.item_id && socket.readyState === WebSocket.OPEN) {
        // The server says why before it closes a socket it refuses (1008).
        refusal = frame;
      }
      this.#emit("frame", frame);
    });
    socket.addEventListener("open", () => {
      clearInterval(this.pinger);
      this.pinger = setInterval(() => {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
      }, PING_EVERY_MS);
    });
    socket.addEventListener("close", (closed) => {
      clearInterval(this.pinger);
      if (this.socket !== socket || this.stopped) return;
      if (closed.code === 1008 && refusal) {
        this.#emit("state", "refused");
        this.#emit("refused", refusal);
        return;
      }
      this.#emit("state", "reconnecting");
      const wait = this.delay * (0.8 + Math.random() * 0.4);
      this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
      setTimeout(() => {
        if (!this.stopped) this.#open();
      }, wait);
    });
  }
}
