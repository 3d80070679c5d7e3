import { request, type ClientRequest, type IncomingMessage } from 'node:http';

/** One parsed SSE frame. `data` is the parsed JSON of the data lines. */
export interface SseFrame {
  id: string | null;
  event: string | null;
  // Events are asserted field by field.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
}

/**
 * A minimal Server-Sent Events client over node:http (a real HTTP client on loopback): parses frames
 * per the SSE rules (fields, comments, blank-line dispatch), records comments, and can stop reading
 * (pause the socket) to play a slow or dead client.
 */
export class SseClient {
  readonly frames: SseFrame[] = [];
  readonly comments: string[] = [];
  status = 0;
  body = '';
  ended = false;
  private buffer = '';
  private req: ClientRequest | null = null;
  private res: IncomingMessage | null = null;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  /** Resolves once the response headers arrived. */
  open(): Promise<this> {
    return new Promise((resolve, reject) => {
      const req = request(this.url, { headers: { accept: 'text/event-stream', ...this.headers } });
      this.req = req;
      req.on('error', (err) => {
        this.ended = true;
        this.wake();
        reject(err);
      });
      req.on('response', (res) => {
        this.res = res;
        this.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (this.status !== 200) this.body += chunk;
          else this.feed(chunk);
        });
        const done = (): void => {
          this.ended = true;
          this.wake();
        };
        res.on('end', done);
        res.on('close', done);
        res.on('error', done);
        resolve(this);
      });
      req.end();
    });
  }

  private feed(chunk: string): void {
    this.buffer += chunk;
    for (;;) {
      const i = this.buffer.indexOf('\n\n');
      if (i < 0) break;
      const block = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(i + 2);
      let id: string | null = null;
      let event: string | null = null;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          this.comments.push(line.slice(1).trim());
          continue;
        }
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
        if (field === 'id') id = value;
        else if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length > 0) this.frames.push({ id, event, data: JSON.parse(data.join('\n')) });
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Stops reading: the kernel buffers fill and the server's writes start to back up. */
  pause(): void {
    this.res?.pause();
  }

  resume(): void {
    this.res?.resume();
  }

  close(): void {
    this.req?.destroy();
    this.res?.destroy();
  }

  /** Waits until `pred` holds over what was received (or the stream ended / timed out). */
  async waitFor(pred: (c: this) => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this)) {
      if (this.ended) throw new Error(`stream ended while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting for ${what} (${this.frames.length} frames)`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async waitForEnd(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the stream to end');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  types(): string[] {
    return this.frames.map((f) => f.event ?? '');
  }

  ids(): number[] {
    return this.frames.map((f) => Number(f.id));
  }
}
