// A bounded, parallel TCP connect scan of every port (1–65535) of one address.
import * as net from "node:net";

export interface ScanOptions {
  /** Sockets in flight at once (default 4096). */
  concurrency?: number;
  /** Wait per port; default: derived from the round trip to the expected ports (see scanTcp). */
  timeoutMs?: number;
  /** Full sweeps; a port must stay silent in every one to count as not open (default 1). */
  passes?: number;
  /** Source address to scan from (e.g. one outside the SSH allowlist). */
  localAddress?: string;
  ports?: number[];
  /** Ports expected open: probed slowly before and after the sweeps (see scanTcp). */
  confirm?: number[];
}

export interface ScanResult {
  open: number[];
  passes: number;
  timeoutMs: number;
  /** Slowest connect to an expected port before the sweeps, when one answered. */
  rttMs?: number;
  /** Concurrency of the last sweep (lower than asked when canaries went unanswered). */
  concurrency: number;
  /** Probes of known-open ports inside the sweeps, how many went unanswered, how often the scan slowed down. */
  canary: { probes: number; missed: number; slowdowns: number };
  /** False when the last sweep still lost canaries at the lowest concurrency: a closed verdict proves nothing. */
  reliable: boolean;
}

export type PortState = "open" | "closed" | "filtered";

// Without a measured round trip, wait this long per port (a dropped SYN is only known by waiting).
const DEFAULT_TIMEOUT_MS = 1000;
// With one: this many round trips, within the bounds below. A reply slower than 20 round trips
// is a congested path, and the second sweep gets another chance at it.
const RTT_FACTOR = 20;
const MIN_TIMEOUT_MS = 250;
const CONFIRM_TIMEOUT_MS = 3000;
// A known-open port is probed again after every this many ports of a sweep, and a sweep is judged
// (and if need be repeated) in chunks of this many ports (see scanTcp).
const CANARY_EVERY = 256;
const CHUNK = 8192;
const RAMP = 128;
// 4096 sockets of 250 ms is ~16 000 probes a second: measured without a lost canary from the test
// harness' namespace once sockets ramp up (event-loop stalls stayed under 70 ms; opened all at
// once, they reached 310 ms and canaries were lost). docs/acceptance.md has the numbers.
const DEFAULT_CONCURRENCY = 4096;
const MIN_CONCURRENCY = 256;

export function probe(host: string, port: number, timeoutMs: number, localAddress?: string): Promise<PortState> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, localAddress });
    let settled = false;
    const done = (state: PortState) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(state);
    };
    // A busy event loop runs timers before the I/O that is already waiting: give a handshake that
    // completed in time one turn of the loop to be seen before calling the port silent.
    socket.setTimeout(timeoutMs, () => setImmediate(() => done("filtered")));
    socket.once("connect", () => done("open"));
    socket.once("error", (e: NodeJS.ErrnoException) => {
      // Running out of file descriptors says nothing about the port: never count it as filtered.
      if (e.code === "EMFILE" || e.code === "ENFILE") {
        settled = true;
        socket.destroy();
        resolve(new Promise<PortState>((r) => setTimeout(() => r(probe(host, port, timeoutMs, localAddress)), 50)));
        return;
      }
      done(e.code === "ECONNREFUSED" ? "closed" : "filtered");
    });
  });
}

/** The per-port wait for the sweeps: RTT_FACTOR round trips, at least MIN_TIMEOUT_MS, at most the default. */
export function sweepTimeoutMs(rttMs: number | undefined): number {
  if (rttMs === undefined) return DEFAULT_TIMEOUT_MS;
  return Math.min(DEFAULT_TIMEOUT_MS, Math.max(MIN_TIMEOUT_MS, Math.ceil(rttMs * RTT_FACTOR)));
}

/**
 * Open ports, ascending. Bounded: at most `concurrency` sockets at once, each at most the sweep
 * timeout. The expected (`confirm`) ports are probed slowly first: that measures the round trip
 * the sweep timeout derives from and warms the target's neighbour cache (a burst from an unknown
 * address loses its first answers while ARP/ND resolves). Then `passes` full sweeps, in opposite
 * orders, so a port whose SYN or answer was lost in one sweep is caught by the next. One sweep is
 * the default: each unanswered SYN holds a connection-tracking entry on the scanning side for
 * 120 s, and two sweeps of both families (262 140 entries) fill Linux's default table.
 *
 * A sweep checks itself: every CANARY_EVERY ports it probes an expected port again. A canary that
 * does not answer means the sweep lost answers (a full connection-tracking table on the scanning
 * side, a congested link, a target or scanner that cannot keep up) and could have missed an open
 * port too. The sweep runs in chunks of CHUNK ports; a chunk that lost a canary is swept again at
 * half the concurrency (the rest of the sweep goes on at that concurrency), and a chunk that
 * still loses one at MIN_CONCURRENCY makes the result unreliable (reported, never passed).
 * Every port a sweep saw open, and every expected one, is probed slowly again at the end.
 */
export async function scanTcp(host: string, opts: ScanOptions = {}): Promise<ScanResult> {
  const confirm = opts.confirm ?? [];
  const rtts: number[] = [];
  const slow = async (ports: number[], measure: boolean) =>
    (
      await Promise.all(
        ports.map(async (p) => {
          const t0 = performance.now();
          const state = await probe(host, p, CONFIRM_TIMEOUT_MS, opts.localAddress);
          if (state === "open" && measure) rtts.push(performance.now() - t0);
          return state === "open" ? p : undefined;
        }),
      )
    ).filter((p): p is number => p !== undefined);
  const before = await slow(confirm, true);
  const rttMs = rtts.length ? Math.max(...rtts) : undefined;
  const timeoutMs = opts.timeoutMs ?? sweepTimeoutMs(rttMs);
  const passes = opts.passes ?? 1;
  const ports = opts.ports ?? Array.from({ length: 65535 }, (_, i) => i + 1);
  const state: SweepState = {
    concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY,
    open: new Set(),
    canary: { probes: 0, missed: 0, slowdowns: 0 },
    reliable: true,
  };
  for (let pass = 0; pass < passes; pass++) {
    await sweep(host, pass % 2 === 0 ? ports : [...ports].reverse(), before, timeoutMs, state, opts.localAddress);
  }
  const after = await slow([...new Set([...state.open, ...confirm])], false);
  const open = [...new Set([...before, ...state.open, ...after])].sort((a, b) => a - b);
  return {
    open,
    passes,
    timeoutMs,
    concurrency: state.concurrency,
    canary: state.canary,
    reliable: state.reliable,
    ...(rttMs === undefined ? {} : { rttMs: Math.round(rttMs * 10) / 10 }),
  };
}

interface SweepState {
  concurrency: number;
  open: Set<number>;
  canary: ScanResult["canary"];
  reliable: boolean;
}

interface Chunk {
  ports: number[];
  /** Probes not finished yet. */
  left: number;
  missedCanaries: number;
  /** The concurrency when its first probe began (0: not begun). */
  concurrency: number;
}

/** One sweep over `ports` in chunks, each with a probe of a known-open canary port every CANARY_EVERY ports. */
function sweep(
  host: string,
  ports: number[],
  canaries: number[],
  timeoutMs: number,
  state: SweepState,
  localAddress?: string,
): Promise<void> {
  const jobs: { port: number; canary: boolean; chunk: Chunk }[] = [];
  const add = (chunkPorts: number[]) => {
    const chunk: Chunk = { ports: chunkPorts, left: 0, missedCanaries: 0, concurrency: 0 };
    const push = (port: number, canary: boolean) => {
      jobs.push({ port, canary, chunk });
      chunk.left++;
    };
    chunkPorts.forEach((port, i) => {
      if (canaries.length && i % CANARY_EVERY === CANARY_EVERY - 1)
        push(canaries[Math.floor(i / CANARY_EVERY) % canaries.length]!, true);
      push(port, false);
    });
  };
  for (let i = 0; i < ports.length; i += CHUNK) add(ports.slice(i, i + CHUNK));
  // A chunk that lost canaries is swept again at half the concurrency. One that began before an
  // earlier slowdown is swept again at the current concurrency: that slowdown answered its loss.
  const chunkDone = (chunk: Chunk) => {
    if (chunk.missedCanaries === 0) return;
    if (chunk.concurrency <= state.concurrency) {
      if (state.concurrency <= MIN_CONCURRENCY) {
        state.reliable = false;
        return;
      }
      state.concurrency = Math.max(MIN_CONCURRENCY, Math.floor(state.concurrency / 2));
      state.canary.slowdowns++;
    }
    add(chunk.ports);
  };
  let next = 0;
  let running = 0;
  return new Promise((resolve) => {
    const worker = async () => {
      running++;
      while (next < jobs.length && running <= state.concurrency) {
        const job = jobs[next++]!;
        if (job.chunk.concurrency === 0) job.chunk.concurrency = state.concurrency;
        const result = await probe(host, job.port, timeoutMs, localAddress);
        if (job.canary) {
          state.canary.probes++;
          if (result !== "open") {
            state.canary.missed++;
            job.chunk.missedCanaries++;
          }
        } else if (result === "open") state.open.add(job.port);
        if (--job.chunk.left === 0) {
          chunkDone(job.chunk);
          startWorkers();
        }
      }
      running--;
      if (running === 0) resolve();
    };
    // Sockets are opened RAMP at a time, one turn of the event loop apart: opening thousands in
    // one go blocks the loop for longer than a port's wait, and the first answers would be late.
    const startWorkers = () => {
      for (let n = 0; n < RAMP && running < state.concurrency && next < jobs.length; n++) void worker();
      if (running < state.concurrency && next < jobs.length) setImmediate(startWorkers);
    };
    startWorkers();
  });
}
