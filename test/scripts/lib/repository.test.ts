// How the operator machine reaches a stack's repository (rebuild preflight, npm run state): the
// node's rendered settings and the stack's secrets, never a secret on a command line.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { repositoryAccess } from "../../../scripts/lib/repository.js";
import { planOf, TEST_SECRETS } from "../../support/helpers.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-repo-access-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("repository access", () => {
  it("sftp: restic's ssh goes to the Storage Box's key port with the stack's key in a private file", () => {
    const plan = planOf("tst", (c) => {
      c.backup.repository = {
        kind: "sftp",
        host: "u1-sub1.your-storagebox.de",
        user: "u1-sub1",
        port: 23,
        path: "/tst",
      };
    });
    const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nkey\n-----END OPENSSH PRIVATE KEY-----";
    const a = repositoryAccess(plan, { ...TEST_SECRETS, backupSftpPrivateKey: key }, tmp)!;
    expect(a.problems).toEqual([]);
    const keyFile = path.join(tmp, "sftp-key");
    expect(a.resticArgs).toEqual([
      "-o",
      `sftp.command=ssh -i ${keyFile} -p 23 -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new u1-sub1@u1-sub1.your-storagebox.de -s sftp`,
    ]);
    expect(fs.readFileSync(keyFile, "utf8")).toBe(`${key}\n`);
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(a.transport.PGBACKREST_REPO1_SFTP_PRIVATE_KEY_FILE).toBe(keyFile);
    expect(a.resticEnv).toMatchObject({
      RESTIC_REPOSITORY: "sftp:u1-sub1@u1-sub1.your-storagebox.de:/tst/restic",
      RESTIC_PASSWORD: TEST_SECRETS.resticPassword,
    });
  });

  it("s3: keys as environment for both tools; every missing secret named, no value printed", () => {
    const plan = planOf("prd");
    const a = repositoryAccess(plan, { ...TEST_SECRETS, backupS3SecretKey: undefined! }, tmp)!;
    expect(a.resticArgs).toEqual([]);
    expect(a.transport.AWS_ACCESS_KEY_ID).toBe(TEST_SECRETS.backupS3AccessKey);
    expect(a.problems).toEqual([
      "cannot read the repository: secret backupS3SecretKey has no value here (pulumi config --show-secrets did not list it)",
    ]);
    const none = repositoryAccess(plan, {}, tmp)!;
    expect(none.resticEnv).toBeUndefined();
    expect(none.problems.map((p) => /secret (\w+)/.exec(p)![1])).toEqual([
      "backupS3AccessKey",
      "backupS3SecretKey",
      "resticPassword",
    ]);
  });
});
