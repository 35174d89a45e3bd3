// The newest backups of a stack, read from each repository from this machine with the stack's own
// rendered settings and secrets (the rebuild's and the update's preflight), and the verdicts on them:
// how old is too old, which repository a restore reads.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Plan } from "../../infra/plan/index.js";
import { execa } from "execa";
import { howItEnded } from "./cli.js";
import { pgbackrestConfFor, repositoryAccess, repositoryName, repositoryNumbers, secretFor } from "./repository.js";
import { BACKUP_JOBS } from "../../infra/plan/jobs.js";
import type { Secrets } from "./stack.js";

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

export interface NewestBackup {
  /** pgbackrest: the newest backup set; restic: the newest `files` snapshot. */
  tool: "pgbackrest" | "restic";
  id?: string;
  /** Unix seconds the backup ended; undefined when the repository holds none. */
  endedAt?: number;
}

export interface Verdict {
  ok: boolean;
  message: string;
}

/** Bounds from the job table (the same numbers the acceptance checks and alerts use). */
export function backupAgeBoundHours(tool: NewestBackup["tool"]): number {
  const job = tool === "pgbackrest" ? "pgbackrest-diff" : "files";
  return BACKUP_JOBS.find((j) => j.job === job)!.maxAgeHours;
}

export function backupAgeVerdict(b: NewestBackup, nowS: number): Verdict {
  const bound = backupAgeBoundHours(b.tool);
  const what = b.tool === "pgbackrest" ? "pgBackRest backup" : "restic files snapshot";
  if (b.endedAt === undefined) return { ok: false, message: `the repository holds no ${what}` };
  const hours = (nowS - b.endedAt) / 3600;
  const age = `${hours.toFixed(1)} h`;
  return hours <= bound
    ? { ok: true, message: `newest ${what} ${b.id ?? ""} is ${age} old (bound ${bound} h)`.replace("  ", " ") }
    : {
        ok: false,
        message:
          `newest ${what} ${b.id ?? ""} is ${age} old, older than the bound of ${bound} h: restoring it loses more than a day`.replace(
            "  ",
            " ",
          ),
      };
}

/** What the preflight read from one repository. */
export interface RepositoryReading {
  /** pgBackRest's index: 1 at Hetzner, 2 off-site. */
  repo: number;
  /** The newest backup of each tool that could read the repository. */
  backups: NewestBackup[];
  /** Why a tool could not read it (never a secret value). */
  problems: string[];
}

export interface RepositoryChoice {
  /** The repository the restore uses: fresh ones first, then the newest backup, then the lower number;
   * undefined when none is usable. */
  repo?: number;
  /** The chosen repository's backups are fresh: the rebuild can go on. */
  ok: boolean;
  /** Another repository is unreadable, unusable or stale: said, but not in the way of the rebuild. */
  warn: boolean;
  /** Which repository and why, naming every repository. */
  message: string;
}

/**
 * Picks the repository to restore from. Usable: both tools read it, pgBackRest's status is 0, and it
 * holds a pgBackRest backup when the node runs PostgreSQL (without one, restic's snapshot decides).
 */
export function chooseRepository(readings: RepositoryReading[], withPg: boolean, nowS: number): RepositoryChoice {
  const judged = readings.map((r) => {
    const main = r.backups.find((b) => b.tool === (withPg ? "pgbackrest" : "restic"));
    const verdicts = r.backups.map((b) => backupAgeVerdict(b, nowS));
    const name = repositoryName(r.repo);
    const list = verdicts.map((v) => v.message).join(", ");
    const usable = r.problems.length === 0 && (!withPg || main?.endedAt !== undefined);
    const fresh = usable && verdicts.length > 0 && verdicts.every((v) => v.ok);
    const said =
      r.problems.length > 0
        ? `${name} unreadable: ${r.problems.join("; ")}`
        : !usable
          ? `${name} not usable: it holds no pgBackRest backup`
          : `${name}${fresh ? "" : " stale"}: ${list}`;
    return { repo: r.repo, endedAt: main?.endedAt ?? -Infinity, usable, fresh, ages: `${name}: ${list}`, said };
  });
  const [pick] = judged
    .filter((j) => j.usable)
    .sort((a, b) => Number(b.fresh) - Number(a.fresh) || b.endedAt - a.endedAt || a.repo - b.repo);
  const others = judged.filter((j) => j !== pick).map((j) => j.said);
  if (!pick) return { ok: false, warn: false, message: `no repository is usable: ${others.join("; ")}` };
  return {
    repo: pick.repo,
    ok: pick.fresh,
    warn: pick.fresh && judged.some((j) => !j.fresh),
    message: [
      pick.fresh
        ? `restoring from ${pick.ages}`
        : `no repository holds fresh backups; the newest usable is ${pick.ages}`,
      ...others,
    ].join("; "),
  };
}
