// A bounded, parallel TCP connect scan of every port (1–65535) of one address.
import * as net from "node:net";

export interface ScanOptions {
  concurrency?: number;
  timeoutMs?: number;
  /** Source address to scan from (e.g. one outside the SSH allowlist). */
  localAddress?: string;
  ports?: number[];
}

export type PortState = "open" | "closed" | "filtered";

export function probe(host: string, port: number, timeoutMs: number, localAddress?: string): Promise<PortState> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, localAddress });
    const done = (state: PortState) => {
      socket.destroy();
      resolve(state);
    };
    socket.setTimeout(timeoutMs, () => done("filtered"));
    socket.once("connect", () => done("open"));
    socket.once("error", (e: NodeJS.ErrnoException) => {
      // Running out of file descriptors says nothing about the port: never count it as filtered.
      if (e.code === "EMFILE" || e.code === "ENFILE") {
        socket.destroy();
        resolve(new Promise<PortState>((r) => setTimeout(() => r(probe(host, port, timeoutMs, localAddress)), 50)));
        return;
      }
      done(e.code === "ECONNREFUSED" ? "closed" : "filtered");
    });
  });
}

/**
 * Open ports, ascending. Bounded: at most `concurrency` sockets at once, each at most `timeoutMs`.
 * `confirm` ports (the expected ones) are probed slowly before the burst, which also warms the
 * target's neighbour cache (a burst from an unknown address loses its first answers while ARP/ND
 * resolves), and every port the burst saw open is confirmed the same way.
 */
export async function scanTcp(host: string, opts: ScanOptions & { confirm?: number[] } = {}): Promise<number[]> {
  const slow = (ports: number[]) => Promise.all(ports.map(async (p) => ((await probe(host, p, 3000, opts.localAddress)) === "open" ? p : undefined)));
  const before = (await slow(opts.confirm ?? [])).filter((p): p is number => p !== undefined);
  const burst = await burstScan(host, opts);
  const after = (await slow([...new Set([...burst, ...(opts.confirm ?? [])])])).filter((p): p is number => p !== undefined);
  return [...new Set([...before, ...burst, ...after])].sort((a, b) => a - b);
}

async function burstScan(host: string, opts: ScanOptions): Promise<number[]> {
  const ports = opts.ports ?? Array.from({ length: 65535 }, (_, i) => i + 1);
  const concurrency = opts.concurrency ?? 1024;
  const timeoutMs = opts.timeoutMs ?? 1000;
  const open: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < ports.length) {
      const port = ports[next++]!;
      if ((await probe(host, port, timeoutMs, opts.localAddress)) === "open") open.push(port);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ports.length) }, worker));
  return open.sort((a, b) => a - b);
}
