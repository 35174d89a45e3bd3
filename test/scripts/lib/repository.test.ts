// How the operator machine reaches a stack's repository (rebuild preflight, npm run state): the
// node's rendered settings and the stack's secrets, never a secret on a command line.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  pgbackrestConfFor,
  repositoryAccess,
  repositoryName,
  repositoryNumbers,
} from "../../../scripts/lib/repository.js";
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
    const keyFile = path.join(tmp, "repo1-sftp-key");
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
    expect(a.repo).toBe(1);
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

  it("lists repository 1 alone, or 1 and 2 with backup.offsite, and has no repository 2 without it", () => {
    expect(repositoryNumbers(planOf("tst"))).toEqual([1]);
    expect(repositoryNumbers(planOf("prd"))).toEqual([1, 2]);
    expect(repositoryAccess(planOf("tst"), TEST_SECRETS, tmp, 2)).toBeUndefined();
    expect([1, 2].map(repositoryName)).toEqual(["repository 1 (Hetzner)", "repository 2 (off-site)"]);
  });

  it("s3 off-site: repository 2's own keys, region and restic URL, for pgBackRest as REPO2 variables", () => {
    const plan = planOf("prd");
    const a = repositoryAccess(plan, TEST_SECRETS, tmp, 2)!;
    expect(a.problems).toEqual([]);
    expect(a.repo).toBe(2);
    expect(a.resticArgs).toEqual([]);
    expect(a.transport).toEqual({
      AWS_ACCESS_KEY_ID: TEST_SECRETS.backupOffsiteS3AccessKey,
      AWS_SECRET_ACCESS_KEY: TEST_SECRETS.backupOffsiteS3SecretKey,
      AWS_DEFAULT_REGION: "eu-central-003",
      PGBACKREST_REPO2_S3_KEY: TEST_SECRETS.backupOffsiteS3AccessKey,
      PGBACKREST_REPO2_S3_KEY_SECRET: TEST_SECRETS.backupOffsiteS3SecretKey,
    });
    expect(a.resticRepository).toBe("s3:https://s3.eu-central-003.backblazeb2.com/xiopro-prd-offsite/prd/restic");
    expect(a.resticEnv).toMatchObject({
      RESTIC_REPOSITORY: a.resticRepository,
      RESTIC_PASSWORD: TEST_SECRETS.resticPassword,
    });
    // Repository 1 keeps its own keys and region beside it.
    expect(repositoryAccess(plan, TEST_SECRETS, tmp, 1)!.transport).toMatchObject({
      AWS_ACCESS_KEY_ID: TEST_SECRETS.backupS3AccessKey,
      AWS_DEFAULT_REGION: "fsn1",
      PGBACKREST_REPO1_S3_KEY: TEST_SECRETS.backupS3AccessKey,
    });
    // Only the off-site secrets are needed to read it.
    const only = repositoryAccess(
      plan,
      { ...TEST_SECRETS, backupS3AccessKey: undefined!, backupS3SecretKey: undefined! },
      tmp,
      2,
    )!;
    expect(only.problems).toEqual([]);
    expect(repositoryAccess(plan, { ...TEST_SECRETS, backupOffsiteS3SecretKey: undefined! }, tmp, 2)!.problems).toEqual(
      [
        "cannot read the repository: secret backupOffsiteS3SecretKey has no value here (pulumi config --show-secrets did not list it)",
      ],
    );
  });

  it("sftp off-site: restic's ssh goes to repository 2's host, port and user with its own key file", () => {
    const plan = planOf("tst", (c) => {
      c.backup.offsite = { kind: "sftp", host: "backup.example.net", user: "xiopro", port: 2222, path: "/tst" };
    });
    const a = repositoryAccess(plan, TEST_SECRETS, tmp, 2)!;
    const keyFile = path.join(tmp, "repo2-sftp-key");
    expect(a.problems).toEqual([]);
    expect(a.resticArgs).toEqual([
      "-o",
      `sftp.command=ssh -i ${keyFile} -p 2222 -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new xiopro@backup.example.net -s sftp`,
    ]);
    expect(fs.readFileSync(keyFile, "utf8")).toBe(TEST_SECRETS.backupOffsiteSftpPrivateKey);
    expect(a.transport).toEqual({ PGBACKREST_REPO2_SFTP_PRIVATE_KEY_FILE: keyFile });
    expect(a.resticRepository).toBe("sftp:xiopro@backup.example.net:/tst/restic");
  });

  it("gives pgBackRest one repository's config lines alone, so the other's secrets are not asked for", () => {
    const conf = pgbackrestConfFor(planOf("prd"), 2);
    expect(conf).toContain("repo2-s3-bucket=xiopro-prd-offsite");
    expect(conf).not.toMatch(/^repo1-/m);
    expect(conf).toContain("[global]\nrepo2-type=s3\n");
    expect(conf).toMatch(/^compress-type=zst$/m);
    const one = pgbackrestConfFor(planOf("prd"), 1);
    expect(one).toContain("repo1-s3-bucket=xiopro-prd-backups");
    expect(one).not.toMatch(/^repo2-/m);
  });
});
