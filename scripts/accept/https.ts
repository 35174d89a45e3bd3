// HTTPS acceptance of one public site: valid chain for the name (public CAs or the configured
// internal CA), HSTS present, upstream reachable, and plain HTTP redirecting to HTTPS.
import * as http from "node:http";
import * as https from "node:https";
import type { CheckResult } from "./checks";

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

export async function checkSite(address: string, hostname: string, ca?: string, ports = { https: 443, http: 80 }): Promise<CheckResult[]> {
  const t0 = Date.now();
  const family = address.includes(":") ? 6 : 4;
  const a = await get(https, { host: address, port: ports.https, family, servername: hostname, headers: { host: hostname }, path: "/", ca, rejectUnauthorized: true, agent: false });
  const s = (Date.now() - t0) / 1000;
  const hsts = String(a.headers?.["strict-transport-security"] ?? "");
  const upstreamDown = a.status === 502 || a.status === 504;
  const r = await get(http, { host: address, port: ports.http, family, headers: { host: hostname }, path: "/", agent: false });
  const loc = String(r.headers?.location ?? "");
  return [
    { name: `https ${hostname}: valid certificate${ca ? " (internal CA)" : ""}`, required: true, result: a.error ? "fail" : "pass", detail: a.error ?? `HTTP ${a.status}`, seconds: s },
    { name: `https ${hostname}: HSTS`, required: true, result: /max-age=\d{7,}/.test(hsts) ? "pass" : "fail", detail: hsts || "no Strict-Transport-Security header", seconds: 0 },
    { name: `https ${hostname}: upstream answers`, required: true, result: !a.error && !upstreamDown ? "pass" : "fail", detail: a.error ? "no TLS answer" : `HTTP ${a.status}${upstreamDown ? " (Caddy cannot reach the service)" : ""}`, seconds: 0 },
    { name: `http ${hostname}: redirects to https`, required: true, result: [301, 302, 307, 308].includes(r.status ?? 0) && loc.startsWith(`https://${hostname}`) ? "pass" : "fail", detail: r.error ?? `HTTP ${r.status} → ${loc || "no Location"}`, seconds: 0 },
  ];
}
