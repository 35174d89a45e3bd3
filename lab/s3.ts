// An S3-compatible server for real-service tests and benchmarks: s3rver (the npm devDependency) over TLS with a
// certificate from a test CA made per run, behind a gate that verifies every request's AWS
// Signature Version 4 (s3rver itself only looks up the access key of a V4 request): the secret key
// and the region a client signs with must be the bucket's, or the request gets 403
// SignatureDoesNotMatch like real S3. Objects land in s3rver's directory as
// BUCKET/KEY._S3rver_object files, so a test can look at what a tool really wrote.
import { spawn, spawnSync } from "node:child_process";
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import * as path from "node:path";
// s3rver is CommonJS and ships no types: loaded with require, typed by the parts used here.
const require = createRequire(import.meta.url);
const S3rver = require("s3rver") as new (options: Record<string, unknown>) => {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  configureBuckets(): Promise<void>;
};
const { DUMMY_ACCOUNT } = require("s3rver/lib/models/account") as {
  DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void };
};

export interface TestCa {
  /** The CA certificate that signed the server's certificate (what clients must trust). */
  caFile: string;
  /** Another CA's certificate, which signed nothing the server presents. */
  wrongCaFile: string;
  keyFile: string;
  certFile: string;
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
}

/** A CA, a server certificate for 127.0.0.1 and localhost signed by it, and an unrelated CA, in `dir`. */
export function makeTestCa(dir: string): TestCa {
  fs.mkdirSync(dir, { recursive: true });
  const ca = (name: string) =>
    openssl(
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.pem`,
        "-days",
        "2",
        "-subj",
        `/CN=xiopro ${name}`,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      ],
      dir,
    );
  ca("test-ca");
  ca("wrong-ca");
  openssl(
    [
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=127.0.0.1",
    ],
    dir,
  );
  fs.writeFileSync(
    path.join(dir, "server.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "test-ca.pem",
      "-CAkey",
      "test-ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      "server.ext",
      "-out",
      "server.pem",
    ],
    dir,
  );
  for (const f of ["test-ca.key", "wrong-ca.key", "server.key"]) fs.chmodSync(path.join(dir, f), 0o600);
  for (const f of ["test-ca.pem", "wrong-ca.pem"]) fs.chmodSync(path.join(dir, f), 0o644);
  return {
    caFile: path.join(dir, "test-ca.pem"),
    wrongCaFile: path.join(dir, "wrong-ca.pem"),
    keyFile: path.join(dir, "server.key"),
    certFile: path.join(dir, "server.pem"),
  };
}

/** RFC 3986 percent-encoding as SigV4 wants it (everything but A-Z a-z 0-9 - _ . ~). */
const rfc3986 = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data).digest();

/**
 * Why a request's SigV4 signature is not valid for `keys` (access key → secret key) and `region`;
 * null when it is. The payload hash is the client's x-amz-content-sha256 header (signed with it);
 * whether the body matches that hash is not checked.
 */
export function sigV4Problem(
  req: Pick<IncomingMessage, "method" | "url" | "headers">,
  keys: Map<string, string>,
  region: string,
): string | null {
  const auth = req.headers.authorization;
  if (!auth) return "unsigned request";
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, *SignedHeaders=([a-z0-9;-]+), *Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (!m) return `not an AWS4-HMAC-SHA256 authorization: ${auth.slice(0, 60)}`;
  const [, keyId, date, scopeRegion, service, signed, signature] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const secret = keys.get(keyId);
  if (secret === undefined) return `unknown access key ${keyId}`;
  if (scopeRegion !== region) return `signed for region ${scopeRegion}, the bucket is in ${region}`;
  if (service !== "s3") return `signed for service ${service}`;
  const signedHeaders = signed.split(";");
  if (!signedHeaders.includes("host")) return "host is not signed";
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const rawPath = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? "" : url.slice(q + 1);
  const uri = rawPath
    .split("/")
    .map((s) => rfc3986(decodeURIComponent(s)))
    .join("/");
  const query = rawQuery
    .split("&")
    .filter(Boolean)
    .map((p) => {
      const i = p.indexOf("=");
      return [
        rfc3986(decodeURIComponent(i < 0 ? p : p.slice(0, i))),
        rfc3986(decodeURIComponent(i < 0 ? "" : p.slice(i + 1))),
      ] as const;
    })
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const header = (h: string) => {
    const v = req.headers[h];
    return (Array.isArray(v) ? v.join(",") : (v ?? "")).trim().replace(/\s+/g, " ");
  };
  const canonical = [
    req.method,
    uri,
    query,
    signedHeaders.map((h) => `${h}:${header(h)}\n`).join(""),
    signed,
    header("x-amz-content-sha256"),
  ].join("\n");
  const toSign = [
    "AWS4-HMAC-SHA256",
    header("x-amz-date"),
    `${date}/${scopeRegion}/${service}/aws4_request`,
    createHash("sha256").update(canonical).digest("hex"),
  ].join("\n");
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), scopeRegion), service), "aws4_request");
  const expected = hmac(key, toSign);
  return timingSafeEqual(expected, Buffer.from(signature, "hex"))
    ? null
    : "signature does not match (wrong secret key, or a request the client did not sign as sent)";
}

export interface S3Options {
  /** s3rver's data directory: DIR/BUCKET/KEY._S3rver_object. */
  dir: string;
  tls: TestCa;
  region: string;
  bucket: string;
  /** Access key → secret key. */
  keys: Record<string, string>;
  /** Every request is appended here as "METHOD /path status" (query strings left out). */
  logFile: string;
  /** A port to listen on (a server started again where an earlier one was); default: a free one. */
  port?: number;
}

/**
 * The options of a server whose data, request log and test CA live under `work` (which the postgres
 * user must be able to read: pgBackRest and restic run as postgres and read the CA certificate).
 */
export function s3OptionsIn(work: string, server: Pick<S3Options, "region" | "bucket" | "keys">): S3Options {
  fs.chmodSync(work, 0o755);
  const tls = makeTestCa(path.join(work, "tls"));
  fs.chmodSync(path.join(work, "tls"), 0o755);
  fs.mkdirSync(path.join(work, "s3"));
  return { ...server, dir: path.join(work, "s3"), tls, logFile: path.join(work, "s3-requests.log") };
}

/** The environment that makes repository `repo`'s pgBackRest, and restic, trust the test CA. */
export const trustTestCa = (tls: TestCa, repo = 1) => ({
  [`PGBACKREST_REPO${repo}_STORAGE_CA_FILE`]: tls.caFile,
  SSL_CERT_FILE: tls.caFile,
});

export interface S3Server {
  /** https://localhost:PORT (the server's certificate names localhost and 127.0.0.1) */
  endpoint: string;
  port: number;
  dir: string;
  /** Every request so far: "METHOD /path status". */
  log(): string[];
  /** The keys of the objects under `prefix` in `bucket`, read from the directory on disk, sorted. */
  objects(bucket: string, prefix?: string): string[];
  close(): Promise<void>;
}

const OBJECT_SUFFIX = "._S3rver_object";

function objectsOnDisk(dir: string, bucket: string, prefix: string): string[] {
  return (fs.readdirSync(path.join(dir, bucket), { recursive: true }) as string[])
    .filter((f) => f.endsWith(OBJECT_SUFFIX))
    .map((f) => f.slice(0, -OBJECT_SUFFIX.length))
    .filter((k) => k.startsWith(prefix))
    .sort();
}
const readLog = (file: string) =>
  fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean) : [];

/** The handle of a server listening on `port` over `opts.dir`, however it runs. */
function serverAt(port: number, opts: S3Options, close: () => Promise<void>): S3Server {
  return {
    endpoint: `https://localhost:${port}`,
    port,
    dir: opts.dir,
    log: () => readLog(opts.logFile),
    objects: (bucket, prefix = "") => objectsOnDisk(opts.dir, bucket, prefix),
    close,
  };
}

/**
 * The server in a process of its own (lab/s3-server.ts): the tests drive the tools with
 * spawnSync, which blocks this process's event loop, so a server in it would never answer.
 */
export async function startS3Server(opts: S3Options): Promise<S3Server> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(import.meta.dirname, "s3-server.ts"), JSON.stringify(opts)],
    { cwd: path.resolve(import.meta.dirname, ".."), stdio: ["pipe", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the S3 server did not start within 60 s: ${err}`)), 60_000);
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const m = /^listening (\d+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the S3 server exited ${code}: ${err}`));
    });
  });
  return serverAt(port, opts, async () => {
    if (child.exitCode === null) child.stdin!.end(); // the server exits when its stdin closes
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null) child.kill("SIGKILL");
  });
}

/** s3rver over TLS on localhost with `bucket` created, accepting only SigV4 requests signed with `keys` for `region`. */
export async function startS3(opts: S3Options): Promise<S3Server> {
  const keys = new Map(Object.entries(opts.keys));
  for (const [id, secret] of keys) DUMMY_ACCOUNT.createKeyPair(id, secret);
  const s3 = new S3rver({ directory: opts.dir, silent: true, configureBuckets: [{ name: opts.bucket, configs: [] }] });
  await s3.configureBuckets();
  const handle = s3.callback();
  const tlsFiles = { key: fs.readFileSync(opts.tls.keyFile), cert: fs.readFileSync(opts.tls.certFile) };
  const serve = (req: IncomingMessage, res: ServerResponse) => {
    const where = `${req.method} ${(req.url ?? "").split("?")[0]}`;
    res.on("finish", () => fs.appendFileSync(opts.logFile, `${where} ${res.statusCode}\n`));
    let problem: string | null;
    try {
      problem = sigV4Problem(req, keys, opts.region);
    } catch (e) {
      problem = `malformed request: ${(e as Error).message}`;
    }
    if (problem === null) return handle(req, res);
    req.resume();
    res.writeHead(403, { "content-type": "application/xml" });
    res.end(
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>${problem.replace(/[<&>]/g, "")}</Message></Error>`,
    );
  };
  const listen = (server: https.Server, port: number, host: string) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
  // "localhost" (pgBackRest 2.45 matches the host only against DNS names of the certificate, never
  // an IP address): on 127.0.0.1, and on ::1 at the same port where the machine has it, since
  // localhost may resolve to either.
  const servers: https.Server[] = [];
  for (let attempt = 0; servers.length === 0; attempt++) {
    const v4 = https.createServer(tlsFiles, serve);
    await listen(v4, opts.port ?? 0, "127.0.0.1");
    const p = (v4.address() as { port: number }).port;
    const v6 = https.createServer(tlsFiles, serve);
    try {
      await listen(v6, p, "::1");
      servers.push(v4, v6);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EADDRNOTAVAIL" || code === "EAFNOSUPPORT") servers.push(v4);
      else {
        v4.close();
        if (code !== "EADDRINUSE" || attempt >= 5) throw e;
      }
    }
  }
  const port = (servers[0]!.address() as { port: number }).port;
  return serverAt(port, opts, async () => {
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      ),
    );
  });
}
