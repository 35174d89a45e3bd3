// HTTPS acceptance of one public site: valid chain for the name (public CAs, or the root given:
// Caddy's internal CA or a private ACME CA's), HSTS present, upstream reachable, HTTP/2 negotiated,
// HTTP/3 advertised, and plain HTTP redirecting to HTTPS.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import type { CheckResult } from "./checks.js";

interface Answer {
  status?: number;
  headers?: http.IncomingHttpHeaders;
  error?: string;
}

function get(mod: typeof http | typeof https, opts: https.RequestOptions): Promise<Answer> {
  return new Promise((resolve) => {
    const req = mod.request({ ...opts, method: "GET", timeout: 10_000 }, (res) => {
      res.resume();
      resolve({ status: res.statusCode, headers: res.headers });
    });
    req.on("timeout", () => req.destroy(new Error("timeout after 10 s")));
    req.on("error", (e) => resolve({ error: e.message }));
    req.end();
  });
}

/** One GET over HTTP/2 (ALPN h2, the same trust as the HTTPS check): the protocol and status, or why not. */
function getH2(
  address: string,
  port: number,
  hostname: string,
  ca?: string,
): Promise<{ alpn?: string; status?: number; error?: string }> {
  return new Promise((resolve) => {
    const host = address.includes(":") ? `[${address}]` : address;
    const session = http2.connect(`https://${host}:${port}`, {
      servername: hostname,
      ca,
      rejectUnauthorized: true,
      ALPNProtocols: ["h2"],
    });
    const finish = (r: { alpn?: string; status?: number; error?: string }) => {
      clearTimeout(timer);
      session.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ error: "timeout after 10 s" }), 10_000);
    session.on("error", (e) => finish({ error: e.message }));
    session.on("connect", () => {
      const req = session.request({ ":path": "/", ":authority": hostname });
      req.on("response", (h) => {
        req.resume();
        finish({ alpn: session.alpnProtocol, status: Number(h[":status"]) });
      });
      req.on("error", (e) => finish({ alpn: session.alpnProtocol, error: e.message }));
      req.end();
    });
  });
}

/**
 * What answers the site: Caddy on the node (HTTP/2 and HTTP/3 expected), or the load balancer, which
 * terminates TLS itself and is checked for what Hetzner's balancer offers (no HTTP/3).
 */
export type SiteFront = "caddy" | "balancer";

export async function checkSite(
  address: string,
  hostname: string,
  trust: { ca?: string; label?: string } = {},
  ports = { https: 443, http: 80 },
  front: SiteFront = "caddy",
): Promise<CheckResult[]> {
  const ca = trust.ca;
  const t0 = Date.now();
  const family = address.includes(":") ? 6 : 4;
  const a = await get(https, {
    host: address,
    port: ports.https,
    family,
    servername: hostname,
    headers: { host: hostname },
    path: "/",
    ca,
    rejectUnauthorized: true,
    agent: false,
  });
  const s = (Date.now() - t0) / 1000;
  const hsts = String(a.headers?.["strict-transport-security"] ?? "");
  const upstreamDown = a.status === 502 || a.status === 504;
  const r = await get(http, {
    host: address,
    port: ports.http,
    family,
    headers: { host: hostname },
    path: "/",
    agent: false,
  });
  const loc = String(r.headers?.location ?? "");
  const h2 = front === "caddy" ? await getH2(address, ports.https, hostname, ca) : undefined;
  const altSvc = String(a.headers?.["alt-svc"] ?? "");
  const protocols: CheckResult[] = !h2
    ? []
    : [
        {
          name: `https ${hostname}: HTTP/2`,
          required: true,
          result: h2.alpn === "h2" && !h2.error && h2.status !== undefined ? "pass" : "fail",
          detail: h2.error ?? `ALPN ${h2.alpn ?? "none"}, HTTP ${h2.status}`,
          seconds: 0,
        },
        {
          name: `https ${hostname}: HTTP/3 advertised`,
          required: true,
          result: new RegExp(`\\bh3=":${ports.https}"`).test(altSvc) ? "pass" : "fail",
          detail: altSvc || "no Alt-Svc header",
          seconds: 0,
        },
      ];
  return [
    {
      name: `https ${hostname}: valid certificate${trust.label ? ` (${trust.label})` : ""}`,
      required: true,
      result: a.error ? "fail" : "pass",
      detail: a.error ?? `HTTP ${a.status}`,
      seconds: s,
    },
    {
      name: `https ${hostname}: HSTS`,
      required: true,
      result: /max-age=\d{7,}/.test(hsts) ? "pass" : "fail",
      detail: hsts || "no Strict-Transport-Security header",
      seconds: 0,
    },
    {
      name: `https ${hostname}: upstream answers`,
      required: true,
      result: !a.error && !upstreamDown ? "pass" : "fail",
      detail: a.error ? "no TLS answer" : `HTTP ${a.status}${upstreamDown ? " (Caddy cannot reach the service)" : ""}`,
      seconds: 0,
    },
    ...protocols,
    {
      name: `http ${hostname}: redirects to https`,
      required: true,
      result: [301, 302, 307, 308].includes(r.status ?? 0) && loc.startsWith(`https://${hostname}`) ? "pass" : "fail",
      detail: r.error ?? `HTTP ${r.status} → ${loc || "no Location"}`,
      seconds: 0,
    },
  ];
}
