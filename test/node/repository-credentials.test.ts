// L3 for the shipped xiopro-repository.sh (real bash, the rendered backup.env, credential files as
// systemd hands them over): with repositories of different kinds, each tool gets each repository's
// own location and secrets, switching between them leaves nothing of the other behind, and a
// credential that was not delivered stops the job naming it. two-repositories.test.ts and the VM
// proof run the jobs themselves (s3 with posix, sftp with sftp); this covers the mixed kinds.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { backupEnv } from "../../cloud-init/configs.js";
import { envFileValues } from "../../lab/pg-cluster.js";
import { layoutIn } from "../../lab/layout.js";
import { planOf, ROOT } from "../support/helpers.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-repo-creds-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const CREDS = {
  "pgbackrest-cipher-pass": "cipher-pass-1",
  "restic-password": "restic-pw-1",
  "repo-sftp-key": "-----BEGIN OPENSSH PRIVATE KEY-----\nbox\n-----END OPENSSH PRIVATE KEY-----\n",
  "repo2-s3-access-key": "OFFSITEKEY2",
  "repo2-s3-secret-key": "offsite-secret-2",
};

/** Sources xiopro-repository.sh with the node's rendered backup.env and runs `script` after it. */
function run(script: string, creds: Record<string, string> = CREDS): { code: number; out: string; err: string } {
  const plan = planOf("tst", (c) => {
    c.backup.repository = { kind: "sftp", host: "u1.your-storagebox.de", user: "u1-sub1", port: 23, path: "/tst" };
    c.backup.offsite = {
      kind: "s3",
      endpoint: "https://s3.eu-central-003.backblazeb2.com",
      region: "eu-central-003",
      bucket: "xiopro-offsite",
      path: "/tst",
    };
  });
  const node = plan.nodes.find((n) => n.services.some((s) => s.name === "backup"))!;
  const credDir = fs.mkdtempSync(path.join(dir, "creds-"));
  for (const [f, v] of Object.entries(creds)) fs.writeFileSync(path.join(credDir, f), v);
  const r = spawnSync(
    "bash",
    ["-c", `set -euo pipefail; . "${ROOT}/cloud-init/files/xiopro-repository.sh"; ${script}`],
    {
      encoding: "utf8",
      // stdin from a socket makes bash read ~/.bashrc as if sshd ran it (Node's pipes are sockets).
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: "/usr/bin:/bin",
        ...layoutIn(path.join(dir, "layout"), {}),
        ...envFileValues(backupEnv(plan, node)),
        CREDENTIALS_DIRECTORY: credDir,
      },
    },
  );
  return { code: r.status ?? -1, out: r.stdout.replaceAll(credDir, "$CREDS"), err: r.stderr };
}

const show =
  'for v in RESTIC_REPOSITORY AWS_DEFAULT_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY RESTIC_SFTP_COMMAND XIOPRO_RESTIC_KIND; do echo "$v=${!v-<unset>}"; done';

describe("xiopro-repository.sh with a Storage Box and an off-site S3 bucket", () => {
  it("gives pgBackRest every repository's secrets under its own index", () => {
    const r = run("load_pgbackrest_credentials; env | grep '^PGBACKREST_REPO' | sort");
    expect(r.err).toBe("");
    expect(r.out.split("\n").filter(Boolean)).toEqual([
      "PGBACKREST_REPO1_CIPHER_PASS=cipher-pass-1",
      "PGBACKREST_REPO1_SFTP_PRIVATE_KEY_FILE=$CREDS/repo-sftp-key",
      "PGBACKREST_REPO2_CIPHER_PASS=cipher-pass-1",
      "PGBACKREST_REPO2_S3_KEY=OFFSITEKEY2",
      "PGBACKREST_REPO2_S3_KEY_SECRET=offsite-secret-2",
    ]);
  });

  it("points restic at one repository at a time and leaves nothing of the other behind", () => {
    const r = run(
      `restic_repository 2; ${show}; echo --; restic_repository 1; ${show}; echo --; restic_repository 2; ${show}`,
    );
    expect(r.err).toBe("");
    const [two, one, twoAgain] = r.out.split("--\n").map((s) => s.trim().split("\n"));
    expect(two).toEqual([
      "RESTIC_REPOSITORY=s3:https://s3.eu-central-003.backblazeb2.com/xiopro-offsite/tst/restic",
      "AWS_DEFAULT_REGION=eu-central-003",
      "AWS_ACCESS_KEY_ID=OFFSITEKEY2",
      "AWS_SECRET_ACCESS_KEY=offsite-secret-2",
      "RESTIC_SFTP_COMMAND=<unset>",
      "XIOPRO_RESTIC_KIND=s3",
    ]);
    expect(one).toEqual([
      "RESTIC_REPOSITORY=sftp:u1-sub1@u1.your-storagebox.de:/tst/restic",
      "AWS_DEFAULT_REGION=",
      "AWS_ACCESS_KEY_ID=<unset>",
      "AWS_SECRET_ACCESS_KEY=<unset>",
      "RESTIC_SFTP_COMMAND=ssh -i $CREDS/repo-sftp-key -p 23 -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new u1-sub1@u1.your-storagebox.de -s sftp",
      "XIOPRO_RESTIC_KIND=sftp",
    ]);
    expect(twoAgain).toEqual(two);
  });

  it("stops naming the off-site credential that was not delivered", () => {
    const without = Object.fromEntries(Object.entries(CREDS).filter(([f]) => f !== "repo2-s3-secret-key"));
    const r = run("restic_repository 2; echo reached", without);
    expect(r.code).toBe(1);
    expect(r.out).not.toContain("reached");
    expect(r.err).toMatch(/ERROR: credential 'repo2-s3-secret-key' is not delivered: run 'pulumi up'/);
  });

  it("refuses a repository the node does not have", () => {
    const r = run("restic_repository 3");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/ERROR: repository 3 is not one of this node's \(1 2\)$/m);
  });
});
