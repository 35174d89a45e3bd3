// The UDP side of the outside scan. A UDP port that drops a probe looks the same as one that
// ignores it, so a sweep like the TCP one proves nothing: each declared port is asked in its own
// protocol and must answer, and a set of well-known services is asked in theirs and must not.
import * as dgram from "node:dgram";
import { randomBytes } from "node:crypto";
import type { CheckResult } from "./checks.js";

/** A version no QUIC server supports (RFC 9000 §15 reserves 0x?a?a?a?a to force negotiation). */
const GREASE_VERSION = 0x1a2a3a4a;

/** Sends one datagram and resolves with the first answer, or undefined after timeoutMs. */
export function ask(
  address: string,
  port: number,
  payload: Buffer,
  timeoutMs = 3000,
  localAddress?: string,
): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(address.includes(":") ? "udp6" : "udp4");
    const done = (answer?: Buffer) => {
      clearTimeout(timer);
      socket.close();
      resolve(answer);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on("message", (msg) => done(msg));
    socket.on("error", (e) => {
      clearTimeout(timer);
      socket.close();
      reject(e);
    });
    socket.bind({ port: 0, address: localAddress }, () => socket.send(payload, port, address));
  });
}

/** A QUIC long-header packet with the grease version, padded to the 1200 bytes a server requires. */
export function quicProbe(dcid: Buffer, scid: Buffer): Buffer {
  const head = Buffer.concat([
    Buffer.from([0xc0]),
    Buffer.alloc(4),
    Buffer.from([dcid.length]),
    dcid,
    Buffer.from([scid.length]),
    scid,
  ]);
  head.writeUInt32BE(GREASE_VERSION, 1);
  return Buffer.concat([head, Buffer.alloc(1200 - head.length)]);
}

/** The versions of a Version Negotiation packet answering our probe (RFC 9000 §17.2.1), or why it is not one. */
export function parseVersionNegotiation(
  answer: Buffer,
  dcid: Buffer,
  scid: Buffer,
): { versions: number[] } | { problem: string } {
  if (answer.length < 7 || (answer[0]! & 0x80) === 0) return { problem: "answer is not a QUIC long-header packet" };
  if (answer.readUInt32BE(1) !== 0)
    return { problem: `answer has version 0x${answer.readUInt32BE(1).toString(16)}, not a Version Negotiation packet` };
  let at = 5;
  const dlen = answer[at++]!;
  const echoedDcid = answer.subarray(at, at + dlen);
  at += dlen;
  const slen = answer[at++]!;
  const echoedScid = answer.subarray(at, at + slen);
  at += slen;
  // The server swaps the connection ids: its destination is our source and vice versa.
  if (!echoedDcid.equals(scid) || !echoedScid.equals(dcid))
    return { problem: "Version Negotiation does not echo the probe's connection ids" };
  const versions: number[] = [];
  for (; at + 4 <= answer.length; at += 4) versions.push(answer.readUInt32BE(at));
  return { versions };
}

/** Whether address:port speaks QUIC version 1 (what HTTP/3 runs on). */
export async function checkQuic(address: string, port: number, localAddress?: string): Promise<CheckResult> {
  const dcid = randomBytes(8);
  const scid = randomBytes(8);
  const t0 = Date.now();
  const name = `udp ${address} port ${port}: QUIC (HTTP/3) answers`;
  let answer: Buffer | undefined;
  try {
    answer = await ask(address, port, quicProbe(dcid, scid), 3000, localAddress);
  } catch (e) {
    return { name, required: true, result: "fail", detail: (e as Error).message, seconds: (Date.now() - t0) / 1000 };
  }
  const seconds = (Date.now() - t0) / 1000;
  if (!answer)
    return {
      name,
      required: true,
      result: "fail",
      detail: "no answer to a QUIC packet within 3 s (closed, or dropped by a firewall)",
      seconds,
    };
  const vn = parseVersionNegotiation(answer, dcid, scid);
  if ("problem" in vn) return { name, required: true, result: "fail", detail: vn.problem, seconds };
  const listed = vn.versions.map((v) => `0x${v.toString(16).padStart(8, "0")}`).join(", ");
  return {
    name,
    required: true,
    result: vn.versions.includes(1) ? "pass" : "fail",
    detail: `Version Negotiation offers ${listed}${vn.versions.includes(1) ? "" : " (no QUIC v1)"}`,
    seconds,
  };
}

/** Well-known UDP services a node must not answer from outside, each asked in its own protocol. */
export const UNDECLARED_UDP: { port: number; service: string; payload: () => Buffer }[] = [
  // DNS: a standard query for "." NS, recursion desired.
  {
    port: 53,
    service: "DNS",
    payload: () => Buffer.from([...randomBytes(2), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x02, 0x00, 0x01]),
  },
  // NTP: a version 4 client request (mode 3).
  { port: 123, service: "NTP", payload: () => Buffer.concat([Buffer.from([0x23]), Buffer.alloc(47)]) },
  // SNMP v2c get-request for sysDescr with community "public".
  {
    port: 161,
    service: "SNMP",
    payload: () =>
      Buffer.from("302902010104067075626c6963a01c02046e6f6e65020100020100300e300c06082b060102010101000500", "hex"),
  },
  // SSDP (UPnP discovery).
  {
    port: 1900,
    service: "SSDP",
    payload: () =>
      Buffer.from(
        'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n',
      ),
  },
  // mDNS query for _services._dns-sd._udp.local PTR.
  {
    port: 5353,
    service: "mDNS",
    payload: () =>
      Buffer.from(
        "000000000001000000000000095f7365727669636573075f646e732d7364045f756470056c6f63616c00000c0001",
        "hex",
      ),
  },
];

/** The UDP checks of one public address: declared ports answer in their protocol, the rest stay silent. */
export async function scanUdp(address: string, declared: number[], localAddress?: string): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const port of declared) {
    if (port === 443) results.push(await checkQuic(address, port, localAddress));
    else
      results.push({
        name: `udp ${address} port ${port}: declared`,
        required: true,
        result: "fail",
        detail: "no protocol probe for this port: add one to scripts/accept/udp.ts",
        seconds: 0,
      });
  }
  const t0 = Date.now();
  const asked = await Promise.all(
    UNDECLARED_UDP.filter((u) => !declared.includes(u.port)).map(async (u) => {
      try {
        return { u, answer: await ask(address, u.port, u.payload(), 2000, localAddress) };
      } catch (e) {
        // A refusal (ICMP port unreachable) is a closed port; any other error means we did not ask.
        return (e as NodeJS.ErrnoException).code === "ECONNREFUSED"
          ? { u, answer: undefined }
          : { u, error: (e as Error).message };
      }
    }),
  );
  const answered = asked.filter((a) => a.answer);
  const unasked = asked.filter((a) => a.error !== undefined);
  results.push({
    name: `udp ${address}: no undeclared service answers`,
    required: true,
    result: answered.length || unasked.length ? "fail" : "pass",
    detail: answered.length
      ? `answered: ${answered.map((a) => `${a.u.service} ${a.u.port} (${a.answer!.length} bytes)`).join(", ")}`
      : unasked.length
        ? `could not ask: ${unasked.map((a) => `${a.u.service} ${a.u.port} (${a.error})`).join(", ")}`
        : `asked ${asked.map((a) => `${a.u.service} ${a.u.port}`).join(", ")} in their own protocols: no answer`,
    seconds: (Date.now() - t0) / 1000,
  });
  return results;
}
