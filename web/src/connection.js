// The one WebSocket to /ws, kept open: it reconnects with a growing delay after any drop,
// and says so through `status` events, so the page can show an indicator. What must survive a
// drop (the session views' subscriptions) re-sends itself on the `open` event.

const MAX_DELAY_MS = 5000;

export class Connection extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.socket = null;
    this.status = 'connecting';
    this.failures = 0;
    this.opened = 0;
    // Messages sent while offline go out, in order, right after the next open.
    this.outbox = [];
    this.retryTimer = null;
  }

  start() {
    clearTimeout(this.retryTimer);
    this.setStatus(this.opened ? 'reconnecting' : 'connecting');
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener('open', () => {
      if (socket !== this.socket) return;
      this.failures = 0;
      this.opened += 1;
      this.setStatus('online');
      this.rawSend({ type: 'watch-sessions' });
      this.dispatchEvent(new CustomEvent('open', { detail: { reconnected: this.opened > 1 } }));
      for (const message of this.outbox.splice(0)) this.rawSend(message);
    });
    socket.addEventListener('message', (event) => {
      if (socket !== this.socket || typeof event.data !== 'string') return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return; // The server sends only JSON; anything else is not ours to interpret.
      }
      this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
    });
    socket.addEventListener('close', () => this.lost(socket));
  }

  /** The socket is gone (or given up on): say so, and try again after a while. */
  lost(socket) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.failures += 1;
    this.setStatus('offline');
    // A connection refused before it ever opened may mean the cookie is gone (a token
    // rotation or a server restart ends browser sessions): let the app check.
    if (this.failures >= 2) this.dispatchEvent(new CustomEvent('failing'));
    const delay = Math.min(MAX_DELAY_MS, 400 * 2 ** Math.min(this.failures - 1, 4));
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.start(), delay + Math.random() * 200);
  }

  /** Sends now, or right after the next (re)connect. */
  send(message) {
    if (this.status === 'online') this.rawSend(message);
    else this.outbox.push(message);
  }

  rawSend(message) {
    this.socket?.send(JSON.stringify(message));
  }

  /** Closes the socket as a network drop would; the usual reconnect follows. */
  drop() {
    const socket = this.socket;
    if (!socket) return;
    // Without a network the close handshake can take long; the socket is done for us now.
    this.lost(socket);
    socket.close();
  }

  /** Closes for good (logout). */
  stop() {
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    this.setStatus('offline');
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.dispatchEvent(new CustomEvent('status', { detail: status }));
  }
}
