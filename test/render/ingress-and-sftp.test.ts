// What the config's ACME and SFTP settings become on the node: the Caddyfile's ACME CA and the
// root it trusts for the directory, and the Storage Box port in pgBackRest's and restic's
// settings. The VM proof runs both against real servers (Pebble, OpenSSH on port 23).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ACME_CA_ROOT_FILE, backupEnv, caddyfile, pgbackrestConf } from "../../cloud-init/configs.js";
import { nodeFiles, renderUserData } from "../../cloud-init/render.js";
import { LETS_ENCRYPT_DIRECTORY } from "../../infra/config/keys.js";
import { planOf, problemsOf, ROOT } from "../support/helpers.js";

const ROOT_PEM = fs.readFileSync(path.join(ROOT, "test/fixtures/acme-ca-root.pem"), "utf8");
const nodeA = (plan: ReturnType<typeof planOf>) => plan.nodes.find((n) => n.key === "nodeA")!;

describe("ingress ACME settings", () => {
  it("names Let's Encrypt by default, with no trusted-root file", () => {
    const plan = planOf("tst");
    const text = caddyfile(plan, nodeA(plan));
    expect(text).toContain(`\tacme_ca ${LETS_ENCRYPT_DIRECTORY}\n`);
    expect(text).not.toContain("acme_ca_root");
    expect(nodeFiles(plan, nodeA(plan)).some((f) => f.path === ACME_CA_ROOT_FILE)).toBe(false);
  });

  it("points Caddy at another ACME CA and ships the root it trusts for the directory", () => {
    const plan = planOf(
      "tst",
      (c) =>
        (c.ingress = { ...c.ingress, acmeDirectory: "https://acme.internal.example:14000/dir", acmeCaRoot: ROOT_PEM }),
    );
    const text = caddyfile(plan, nodeA(plan));
    expect(text).toContain("\tacme_ca https://acme.internal.example:14000/dir\n");
    expect(text).toContain(`\tacme_ca_root ${ACME_CA_ROOT_FILE}\n`);
    const file = nodeFiles(plan, nodeA(plan)).find((f) => f.path === ACME_CA_ROOT_FILE)!;
    expect(file.content).toBe(ROOT_PEM.trim() + "\n");
    expect(file.permissions).toBe("0644");
  });

  it("names the config value that pushes user-data over Hetzner's 32 KiB", () => {
    const plan = planOf(
      "tst",
      (c) => (c.ingress = { ...c.ingress, acmeCaRoot: Array(8).fill(ROOT_PEM.trim()).join("\n") }),
    );
    expect(() => renderUserData(plan, nodeA(plan), { volumeIds: { pgdata: "1", artifacts: "2" } })).toThrow(
      /^user-data of tst-node-a is \d+ bytes \(Hetzner's limit is 32768\); the config values that make it grow most: xiopro-infra:ingress\.acmeCaRoot \(\d+ bytes\), /,
    );
  });

  it("refuses a trusted root that is not a CA certificate, not PEM, or set with tls internal", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "acme-root-"));
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        path.join(dir, "k"),
        "-out",
        path.join(dir, "leaf.pem"),
        "-subj",
        "/CN=leaf.example",
        "-days",
        "2",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
      ],
      { stdio: "pipe" },
    );
    const leaf = fs.readFileSync(path.join(dir, "leaf.pem"), "utf8");
    fs.rmSync(dir, { recursive: true, force: true });
    const fix =
      "paste the CA's root certificate in PEM form (-----BEGIN CERTIFICATE----- …), as the ACME CA publishes it";
    expect(problemsOf("tst", (c) => (c.ingress.acmeCaRoot = leaf))).toEqual([
      `xiopro-infra:ingress.acmeCaRoot: certificate 1 (CN=leaf.example) is not a CA certificate | ${fix}`,
    ]);
    expect(problemsOf("tst", (c) => (c.ingress.acmeCaRoot = "not a certificate"))).toEqual([
      `xiopro-infra:ingress.acmeCaRoot: holds no PEM certificate | ${fix}`,
    ]);
    const broken = ROOT_PEM.replace(/\n[A-Za-z0-9+/]{20}/, "\n" + "A".repeat(20));
    expect(problemsOf("tst", (c) => (c.ingress.acmeCaRoot = broken))[0]).toMatch(
      /^xiopro-infra:ingress\.acmeCaRoot: certificate 1 does not parse/,
    );
    expect(problemsOf("tst", (c) => (c.ingress = { ...c.ingress, tls: "internal", acmeCaRoot: ROOT_PEM }))).toEqual([
      "xiopro-infra:ingress.acmeCaRoot: is set, but tls is internal | remove acmeCaRoot, or use tls: acme",
    ]);
    expect(problemsOf("tst", (c) => (c.ingress.acmeDirectory = "http://acme.example/dir"))[0]).toMatch(
      /^xiopro-infra:ingress\.acmeDirectory: "http:\/\/acme\.example\/dir" .*https:\/\//,
    );
  });
});

describe("sftp repository port", () => {
  const sftp = (port?: number) =>
    planOf(
      "tst",
      (c) =>
        (c.backup.repository = {
          kind: "sftp",
          host: "u1.your-storagebox.de",
          user: "u1-sub1",
          path: "/tst",
          ...(port ? { port } : {}),
        }),
    );

  it("uses the Storage Box's key port 23 by default in pgBackRest's and restic's settings", () => {
    const plan = sftp();
    expect(pgbackrestConf(plan)).toContain(
      "repo1-sftp-host=u1.your-storagebox.de\nrepo1-sftp-host-port=23\nrepo1-sftp-host-user=u1-sub1\n",
    );
    expect(backupEnv(plan, nodeA(plan))).toContain(
      "XIOPRO_SFTP_HOST=u1.your-storagebox.de\nXIOPRO_SFTP_PORT=23\nXIOPRO_SFTP_USER=u1-sub1\n",
    );
  });

  it("takes another port, and refuses one outside 1-65535", () => {
    expect(pgbackrestConf(sftp(2222))).toContain("repo1-sftp-host-port=2222\n");
    expect(
      problemsOf(
        "tst",
        (c) =>
          (c.backup.repository = {
            kind: "sftp",
            host: "u1.your-storagebox.de",
            user: "u1",
            path: "/tst",
            port: 70000,
          }),
      )[0],
    ).toMatch(/^xiopro-infra:backup\.repository\.port: 70000 /);
  });
});
