// A throwaway CA and a site certificate signed by it (openssl), for HTTPS stand-ins in tests.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Writes ca.* and site.* into dir; returns the root (PEM) and the site's key pair for a TLS server. */
export function testCertificate(dir: string, hostname: string): { ca: string; key: Buffer; cert: Buffer } {
  const o = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  o(["req", "-x509", ...EC, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=test root", "-days", "2"]);
  o(["req", ...EC, "-keyout", "site.key", "-out", "site.csr", "-subj", `/CN=${hostname}`]);
  fs.writeFileSync(path.join(dir, "ext"), `subjectAltName=DNS:${hostname}\n`);
  o(
    ["x509", "-req", "-in", "site.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"].concat([
      "-out",
      "site.crt",
      "-days",
      "2",
      "-extfile",
      "ext",
    ]),
  );
  return {
    ca: fs.readFileSync(path.join(dir, "ca.crt"), "utf8"),
    key: fs.readFileSync(path.join(dir, "site.key")),
    cert: fs.readFileSync(path.join(dir, "site.crt")),
  };
}
