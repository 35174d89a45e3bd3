// A steady write load of acknowledged commits (~100 tx/s) through one psql session: each INSERT is
// followed by `\echo ack <id>`, so an id is acknowledged only after its commit returned. Used by the
// recovery benchmark and the WAL receiver test to count acknowledged commits lost in a crash.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";

export interface Ack {
  id: number;
  ackMs: number;
  /** When the INSERT was written to psql: ackMs - sentMs is the commit latency the client saw. */
  sentMs?: number;
}

export interface AckLoad {
  acks: Ack[];
  /** Ids sent (acknowledged or in flight). */
  sent(): number;
  startMs: number;
  /** Stops sending; resolves when psql has exited (or after 10 s, when the server is gone). */
  stop(): Promise<void>;
}

/** Starts the load: `psql` is the command line of a psql session (run as the right user), `table`
 * has columns (id bigint, payload text). Commits per second are capped at `rate`, with at most 20
 * in flight, so a slow server lowers the rate instead of queueing acknowledgements. */
export function startAckLoad(psql: string[], table: string, firstId: number, rate = 100): AckLoad {
  const child = spawn(psql[0]!, psql.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
  const acks: Ack[] = [];
  const sentAt = new Map<number, number>();
  let buf = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d: string) => {
    const now = Date.now();
    buf += d;
    const lines = buf.split("\n");
    buf = lines.pop()!;
    for (const l of lines) {
      if (!l.startsWith("ack ")) continue;
      const id = Number(l.slice(4));
      acks.push({ id, ackMs: now, sentMs: sentAt.get(id) });
    }
  });
  child.stderr.resume();
  child.stdin.on("error", () => undefined);
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const startMs = Date.now();
  let sent = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - startMs) * rate) / 1000);
    while (sent < due && sent - acks.length < 20) {
      const id = firstId + sent++;
      sentAt.set(id, Date.now());
      child.stdin.write(
        `INSERT INTO ${table} (id, payload) VALUES (${id}, '${randomBytes(48).toString("base64")}');\n\\echo ack ${id}\n`,
      );
    }
  }, 5);
  return {
    acks,
    sent: () => sent,
    startMs,
    stop: async () => {
      clearInterval(timer);
      child.stdin.end();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

/**
 * Acknowledged commits missing after a restore. rpoSeconds is the window of lost acknowledgements:
 * from the newest surviving commit acknowledged before the first lost one to the newest lost one.
 * A hole is a lost commit older than a restored one (recovery must restore a prefix).
 */
export function lostCommits(
  acks: readonly Ack[],
  restored: ReadonlySet<number>,
): { lost: number; rpoSeconds: number; holes: number } {
  const lost = acks.filter((a) => !restored.has(a.id));
  if (lost.length === 0) return { lost: 0, rpoSeconds: 0, holes: 0 };
  const firstLost = Math.min(...lost.map((a) => a.ackMs));
  const lastLost = Math.max(...lost.map((a) => a.ackMs));
  const before = acks.filter((a) => restored.has(a.id) && a.ackMs <= firstLost).map((a) => a.ackMs);
  const from = before.length ? Math.max(...before) : firstLost;
  const newestRestored = Math.max(-Infinity, ...acks.filter((a) => restored.has(a.id)).map((a) => a.ackMs));
  return {
    lost: lost.length,
    rpoSeconds: Math.round(lastLost - from) / 1000,
    holes: lost.filter((a) => a.ackMs < newestRestored).length,
  };
}
