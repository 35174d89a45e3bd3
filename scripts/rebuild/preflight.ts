// Preflight of a rebuild, the I/O half: the newest backups read from each repository with the
// stack's own rendered settings (the stack, its secrets and the cloud APIs: scripts/lib/).
// The verdicts, and the choice of repository, are pure (./steps).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Plan } from "../../infra/plan/index.js";
import { execa } from "execa";
import { howItEnded } from "../lib/cli.js";
import { pgbackrestConfFor, repositoryAccess, repositoryNumbers, secretFor } from "../lib/repository.js";
import type { NewestBackup, RepositoryReading } from "./steps.js";
import type { Secrets } from "../lib/stack.js";

export type { RepositoryReading } from "./steps.js";

/**
 * Reads every repository of the stack, side by side: each with its own tool runs and timeouts, so one
 * that does not answer neither delays nor hides the other. Empty when no node runs the backup service.
 */
export async function readRepositories(plan: Plan, secrets: Secrets): Promise<RepositoryReading[]> {
  if (!plan.nodes.some((n) => n.services.some((s) => s.name === "backup"))) return [];
  return Promise.all(repositoryNumbers(plan).map((repo) => readRepository(plan, secrets, repo)));
}

/**
 * Reads the newest pgBackRest backup and the newest restic `files` snapshot of repository `repo` with
 * the settings the node renders (pgbackrest.conf, backup.env) and the stack's secrets, from this machine.
 */
export async function readRepository(plan: Plan, secrets: Secrets, repo = 1): Promise<RepositoryReading> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-rebuild-"));
  try {
    const access = repositoryAccess(plan, secrets, tmp, repo);
    if (!access) return { repo, backups: [], problems: [] };
    const { node, transport, problems } = access;
    const withPg = node.services.some((s) => s.name === "postgresql");
    const backups: NewestBackup[] = [];
    if (withPg) {
      const pass = secretFor(secrets, "pgbackrestCipherPass", problems);
      if ((await execa("pgbackrest", ["version"], { reject: false })).code === "ENOENT") {
        problems.push(
          "cannot check the newest backup age: pgbackrest is not installed on this machine (install pgbackrest and restic, or pass --force to rebuild without this check)",
        );
      } else if (pass !== undefined) {
        // The node's rendered settings; an empty include path keeps this machine's own conf.d out.
        fs.writeFileSync(path.join(tmp, "pgbackrest.conf"), pgbackrestConfFor(plan, repo));
        fs.mkdirSync(path.join(tmp, "conf.d"));
        const r = await execa(
          "pgbackrest",
          [
            `--config=${path.join(tmp, "pgbackrest.conf")}`,
            `--config-include-path=${path.join(tmp, "conf.d")}`,
            `--lock-path=${tmp}`,
            "--log-level-file=off",
            "--log-level-console=error",
            `--stanza=${access.settings.PGBACKREST_STANZA}`,
            `--repo=${repo}`,
            "info",
            "--output=json",
          ],
          { env: { ...transport, [`PGBACKREST_REPO${repo}_CIPHER_PASS`]: pass }, timeout: 120_000, reject: false },
        );
        const info = r.exitCode === 0 ? parsePgbackrestInfo(r.stdout) : undefined;
        // pgbackrest info exits 0 for an unreadable repository: its own status says why.
        const own = info?.repo?.find((x) => x.key === repo)?.status;
        if (!info)
          problems.push(
            `cannot read the pgBackRest repository: ${
              r.stderr
                .split("\n")
                .find((l) => /ERROR/.test(l))
                ?.trim() ?? `pgbackrest ${howItEnded(r)}`
            }`,
          );
        else if (info.status.code !== 0 || (own && own.code !== 0))
          problems.push(
            `the pgBackRest repository is not usable: ${own && own.code !== 0 ? own.message : info.status.message}`,
          );
        else {
          const last = info.backup
            .filter((b) => (b.database?.["repo-key"] ?? repo) === repo)
            .sort((a, b) => a.timestamp.stop - b.timestamp.stop)
            .at(-1);
          backups.push({ tool: "pgbackrest", id: last?.label, endedAt: last?.timestamp.stop });
        }
      }
    }

    if ((await execa("restic", ["version"], { reject: false })).code === "ENOENT") {
      problems.push(
        "cannot check the newest backup age: restic is not installed on this machine (install pgbackrest and restic, or pass --force to rebuild without this check)",
      );
    } else if (access.resticEnv) {
      const r = await execa(
        "restic",
        [...access.resticArgs, "snapshots", "--json", "--tag", "files", "--no-cache", "--no-lock"],
        {
          env: access.resticEnv,
          timeout: 120_000,
          reject: false,
        },
      );
      if (r.exitCode !== 0)
        problems.push(
          `cannot read the restic repository ${access.resticRepository}: ${
            r.stderr
              .split("\n")
              .find((l) => /Fatal|error/i.test(l))
              ?.trim() ?? `restic ${howItEnded(r)}`
          }`,
        );
      else {
        const snaps = (JSON.parse(r.stdout || "[]") as { short_id: string; time: string }[] | null) ?? [];
        const last = snaps.sort((a, b) => Date.parse(a.time) - Date.parse(b.time)).at(-1);
        backups.push({
          tool: "restic",
          id: last?.short_id,
          endedAt: last ? Math.floor(Date.parse(last.time) / 1000) : undefined,
        });
      }
    }
    return { repo, backups, problems };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

interface PgbackrestStanzaInfo {
  status: { code: number; message: string };
  repo?: { key: number; status: { code: number; message: string } }[];
  backup: { label: string; timestamp: { stop: number }; database?: { "repo-key"?: number } }[];
}

/** pgbackrest info --output=json (2.45 can leave raw newlines inside a status message). */
export function parsePgbackrestInfo(text: string): PgbackrestStanzaInfo | undefined {
  try {
    return (JSON.parse(text.replace(/[\u0000-\u001f]+/g, " ")) as PgbackrestStanzaInfo[])[0];
  } catch {
    return undefined;
  }
}
