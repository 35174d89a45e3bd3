// backup.repository.createStorageBox: the key material against ssh-keygen itself, the config rules,
// and the mapping under Pulumi's mock runtime (exact inputs, secrets secret, the sub-account's host
// and user in the node's rendered repository settings).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLE_PATH } from "../../cloud-init/render.js";
import { AUTHORIZE_SUBACCOUNT_SCRIPT } from "../../infra/components/storage-box.js";
import { runOffline, type OfflineRun, type RecordedResource } from "../../infra/offline.js";
import { opensshPublicKey, rfc4716PublicKey, storageBoxAuthorizedKeys } from "../../infra/plan/storage-box.js";
import { problemsOf, ROOT, stackObject, toRaw } from "../support/helpers.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-sbox-"));
function keygen(name: string, args: string[]): { priv: string; pub: string } {
  const f = path.join(tmp, name);
  execFileSync("ssh-keygen", ["-q", "-C", "", "-f", f, ...args]);
  return { priv: fs.readFileSync(f, "utf8"), pub: fs.readFileSync(`${f}.pub`, "utf8").trim() };
}
const ed = keygen("ed", ["-t", "ed25519", "-N", ""]);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("Storage Box key material", () => {
  it("derives exactly ssh-keygen's public key from ed25519, RSA and ECDSA private keys", () => {
    const rsa = keygen("rsa", ["-t", "rsa", "-b", "2048", "-N", ""]);
    const ecdsa = keygen("ecdsa", ["-t", "ecdsa", "-N", ""]);
    for (const k of [ed, rsa, ecdsa]) expect(opensshPublicKey(k.priv)).toBe(k.pub);
    expect(opensshPublicKey(ed.priv, "xiopro-tst-backups")).toBe(`${ed.pub} xiopro-tst-backups`);
  });

  it("writes the RFC 4716 form ssh-keygen -e writes, and both forms into authorized_keys", () => {
    const exported = execFileSync("ssh-keygen", ["-e", "-f", path.join(tmp, "ed.pub")], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l && !l.startsWith("Comment:"))
      .join("\n");
    expect(rfc4716PublicKey(ed.pub)).toBe(exported);
    expect(storageBoxAuthorizedKeys(ed.pub)).toBe(`${ed.pub}\n${exported}\n`);
  });

  it("refuses a key with a passphrase and anything that is not an OpenSSH private key, saying how to fix it", () => {
    const locked = keygen("locked", ["-t", "ed25519", "-N", "secret-pass"]);
    expect(() => opensshPublicKey(locked.priv)).toThrow(
      "has a passphrase, which the node's backup jobs cannot enter; remove it with: ssh-keygen -p -N '' -f <key>",
    );
    expect(() => opensshPublicKey("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n")).toThrow(
      "is not an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----); create one with: ssh-keygen -t ed25519 -N '' -f storagebox-key",
    );
  });
});

describe("createStorageBox config rules", () => {
  const sftp = (extra: Record<string, unknown>) => (c: Record<string, any>) =>
    (c.backup = { repository: { kind: "sftp", path: "/tst", createStorageBox: { type: "bx11" }, ...extra } });
  it("needs neither host nor user, and refuses them (they come from the created box)", () => {
    expect(problemsOf("tst", sftp({}))).toEqual([]);
    expect(problemsOf("tst", sftp({ host: "u1.your-storagebox.de", user: "u1" }))).toEqual([
      "xiopro-infra:backup.repository.host: is set, but the stack creates the Storage Box (createStorageBox), whose sub-account gives it | remove backup.repository.host, or remove createStorageBox to use an existing box",
      "xiopro-infra:backup.repository.user: is set, but the stack creates the Storage Box (createStorageBox), whose sub-account gives it | remove backup.repository.user, or remove createStorageBox to use an existing box",
    ]);
  });
  it("belongs to kind sftp, a catalog type and a real location, and never the box's root", () => {
    expect(problemsOf("tst", (c) => (c.backup.repository.createStorageBox = { type: "bx11" }))).toEqual([
      "xiopro-infra:backup.repository.createStorageBox: is set, but kind is s3 | set backup.repository.kind: sftp, or remove createStorageBox",
    ]);
    expect(problemsOf("tst", sftp({ createStorageBox: { type: "bx99", location: "fsn9" }, path: "/" }))).toEqual([
      `xiopro-infra:backup.repository.createStorageBox.type: "bx99" is not a Storage Box type in the catalog (${JSON.parse(fs.readFileSync(path.join(ROOT, "infra/catalog/hetzner-prices.json"), "utf8")).catalogDate}) | use one of bx11`,
      expect.stringMatching(
        /^xiopro-infra:backup\.repository\.createStorageBox\.location: "fsn9" is not a Hetzner location \| use one of .*\(did you mean "fsn1"\?\)$/,
      ),
      `xiopro-infra:backup.repository.path: "/" would make the sub-account's home the whole Storage Box | use a directory such as /xiopro`,
    ]);
  });
});

describe("createStorageBox under Pulumi's mock runtime", () => {
  const runs: Record<string, OfflineRun> = {};
  async function run(stack: string): Promise<OfflineRun> {
    const obj = structuredClone(stackObject(stack)) as Record<string, any>;
    obj.backup = { ...obj.backup, repository: { kind: "sftp", path: `/${stack}`, createStorageBox: { type: "bx11" } } };
    obj.backupSftpPrivateKey = ed.priv;
    const { runProgram } = await import("../../infra/program.js");
    return runOffline(stack, toRaw(obj), runProgram);
  }
  const one = (r: OfflineRun, type: string): RecordedResource => {
    const found = r.resources.filter((x) => x.type === type);
    expect(found, type).toHaveLength(1);
    return found[0]!;
  };
  beforeAll(async () => {
    runs.tst = await run("tst");
    runs.prd = await run("prd");
  });

  it("creates the box with the key's public half, SSH only, and a generated password that stays secret", () => {
    const box = one(runs.tst!, "hcloud:index/storageBox:StorageBox");
    expect(box.name).toBe("xiopro-infra-tst-backups");
    expect(box.inputs).toEqual({
      name: "tst-backups",
      storageBoxType: "bx11",
      location: "fsn1",
      password: expect.stringMatching(/^generated-/),
      sshKeys: [`${ed.pub} xiopro-tst-backups`],
      accessSettings: {
        sshEnabled: true,
        reachableExternally: true,
        sambaEnabled: false,
        webdavEnabled: false,
        zfsEnabled: false,
      },
      deleteProtection: false,
      labels: { env: "tst", "managed-by": "xiopro-infra", stack: "tst", purpose: "backups" },
    });
    expect(box.secretInputs).toEqual(["password"]);
    expect(box.options).toEqual({ protect: false, ignoreChanges: ["sshKeys"] });
    const prd = one(runs.prd!, "hcloud:index/storageBox:StorageBox");
    expect([prd.inputs.deleteProtection, prd.options.protect]).toEqual([true, true]);
  });

  it("creates a sub-account whose home directory is the repository path", () => {
    const box = one(runs.tst!, "hcloud:index/storageBox:StorageBox");
    const sub = one(runs.tst!, "hcloud:index/storageBoxSubaccount:StorageBoxSubaccount");
    expect(sub.inputs).toEqual({
      storageBoxId: Number(box.id),
      homeDirectory: "tst",
      password: expect.stringMatching(/^generated-/),
      accessSettings: {
        sshEnabled: true,
        reachableExternally: true,
        readonly: false,
        sambaEnabled: false,
        webdavEnabled: false,
      },
      description: "pgBackRest and restic repository of tst",
      labels: { env: "tst", "managed-by": "xiopro-infra", stack: "tst", purpose: "backups" },
    });
    expect(sub.secretInputs).toEqual(["password"]);
    expect(one(runs.prd!, "hcloud:index/storageBoxSubaccount:StorageBoxSubaccount").options.protect).toBe(true);
  });

  it("installs the sub-account's authorized_keys through the main account, the private key only on stdin as a secret", () => {
    const box = one(runs.tst!, "hcloud:index/storageBox:StorageBox");
    const cmd = one(runs.tst!, "command:local:Command");
    expect(cmd.inputs).toMatchObject({
      create: AUTHORIZE_SUBACCOUNT_SCRIPT,
      interpreter: ["/bin/bash", "-c"],
      stdin: ed.priv,
      environment: {
        BOX_HOST: `u${box.id}.your-storagebox.de`,
        BOX_USER: `u${box.id}`,
        HOME_DIR: "tst",
        AUTHORIZED_KEYS: storageBoxAuthorizedKeys(`${ed.pub} xiopro-tst-backups`),
      },
    });
    expect(cmd.secretInputs).toEqual(["stdin"]);
    const script = path.join(tmp, "authorize.sh");
    fs.writeFileSync(script, AUTHORIZE_SUBACCOUNT_SCRIPT);
    execFileSync("shellcheck", ["-s", "bash", script]);
  });

  it("renders the sub-account's host and user, at the root of its home, into the node's pgBackRest and restic settings", () => {
    const box = one(runs.tst!, "hcloud:index/storageBox:StorageBox");
    const sub = `u${box.id}-sub1`;
    const server = one(runs.tst!, "hcloud:index/server:Server");
    const doc = parse(String(server.inputs.userData)) as { write_files: { path: string; content: string }[] };
    const root = fs.mkdtempSync(path.join(tmp, "root-"));
    fs.writeFileSync(
      path.join(root, "bundle.tgz"),
      Buffer.from(doc.write_files.find((f) => f.path === BUNDLE_PATH)!.content.replace(/\s+/g, ""), "base64"),
    );
    execFileSync("tar", ["-xzf", path.join(root, "bundle.tgz"), "-C", root]);
    const conf = fs.readFileSync(path.join(root, "etc/pgbackrest/pgbackrest.conf"), "utf8");
    expect(conf).toMatch(
      new RegExp(
        `^repo1-type=sftp\\nrepo1-path=/pgbackrest\\nrepo1-sftp-host=${sub}\\.your-storagebox\\.de\\nrepo1-sftp-host-port=23\\nrepo1-sftp-host-user=${sub}\\n`,
        "m",
      ),
    );
    const env = fs.readFileSync(path.join(root, "etc/xiopro/backup.env"), "utf8");
    expect(env).toContain(`RESTIC_REPOSITORY=sftp:${sub}@${sub}.your-storagebox.de:/restic\n`);
    expect(env).toContain(`XIOPRO_SFTP_HOST=${sub}.your-storagebox.de\nXIOPRO_SFTP_PORT=23\nXIOPRO_SFTP_USER=${sub}\n`);
    expect(runs.tst!.outputs.backupStorageBox).toEqual({
      storageBoxId: box.id,
      host: `${sub}.your-storagebox.de`,
      user: sub,
    });
  });

  it("keeps the private key out of every input that is not a secret", () => {
    const body = ed.priv.split("\n")[1]!;
    for (const r of runs.tst!.resources) {
      for (const [k, v] of Object.entries(r.inputs))
        if (!r.secretInputs.includes(k)) expect(JSON.stringify(v), `${r.type} ${r.name}.${k}`).not.toContain(body);
    }
  });
});
