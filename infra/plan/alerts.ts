// Alert rules (docs/architecture.md, seed references: seed 000 §12.6 severities, seed 001
// thresholds, seed 000 §13.5A scaling triggers).
// Pure data: the renderer writes them as a Prometheus rule file, test/promtool/alerts*.test.yml
// prove each one fires on a failing series and stays silent on a healthy one, and
// docs/observability.md lists them. Backup freshness bounds come from the jobs table.
import { BACKUP_JOBS } from "./jobs.js";
import { stateFile } from "../catalog/layout.js";
import { SERVICE_CATALOG } from "../catalog/services.js";
import type { AlertRule, Severity } from "../catalog/service-spec.js";

export type { AlertRule, Severity } from "../catalog/service-spec.js";

export interface AlertGroup {
  name: string;
  rules: AlertRule[];
}

const HOUR = 3600;
const DAY = 24 * HOUR;

/** Used space of real filesystems in percent (tmpfs and overlay excluded). */
const diskUsed = (selector: string) =>
  `100 * (1 - node_filesystem_avail_bytes{${selector}} / node_filesystem_size_bytes{${selector}})`;
const DISK_USED = diskUsed('fstype=~"ext4|xfs"');
const MEMORY_USED = "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)";
const SWAP_LIMIT_BYTES = 512 * 1024 * 1024;

const jobAge = (job: string) => `time() - xiopro_job_last_success_timestamp_seconds{name="${job}"}`;
const bound = (job: string) => BACKUP_JOBS.find((j) => j.job === job)!.maxAgeHours * HOUR;

/** The jobs that read the repository back (pgbackrest verify, restic check): their failure has its own alert. */
const INTEGRITY_JOBS = "pgbackrest-verify|restic-check";

/** Jobs whose staleness has its own alert: the database backups (full or diff) and the drill. */
const OWN_ALERT = new Set(["pgbackrest-full", "pgbackrest-diff", "restore-drill"]);

function diskAlert(threshold: number, severity: Severity): AlertRule {
  return {
    alert: `DiskUsageAbove${threshold}`,
    severity,
    expr: `${DISK_USED} > ${threshold}`,
    for: "10m",
    summary: `Disk {{ $labels.mountpoint }} on {{ $labels.node }} is above ${threshold} %`,
    description:
      '{{ $value | printf "%.1f" }} % used. Free space or grow the volume (docs/runbooks/emergency-access.md).',
  };
}

const PLATFORM_GROUPS: AlertGroup[] = [
  {
    name: "xiopro-hosts",
    rules: [
      {
        alert: "NodeDown",
        severity: "critical",
        expr: 'up{job="node"} == 0',
        for: "2m",
        summary: "{{ $labels.node }} does not answer metric scrapes",
        description:
          "The node exporter on {{ $labels.instance }} has been unreachable for 2 minutes: the node is down or its private network is broken.",
      },
      {
        alert: "TargetDown",
        severity: "warning",
        expr: 'up{job!="node"} == 0',
        for: "5m",
        summary: "Scrape target {{ $labels.job }} on {{ $labels.node }} is down",
        description: "{{ $labels.instance }} has not answered for 5 minutes.",
      },
      diskAlert(70, "info"),
      diskAlert(80, "warning"),
      diskAlert(85, "critical"),
      {
        alert: "MemoryHigh",
        severity: "warning",
        expr: `${MEMORY_USED} > 75`,
        for: "5m",
        summary: "Memory on {{ $labels.node }} above 75 % for 5 minutes",
        description: '{{ $value | printf "%.1f" }} % used (docs/architecture.md, seed 000 §11.10.3 headroom).',
      },
      {
        alert: "SwapHigh",
        severity: "warning",
        expr: `node_memory_SwapTotal_bytes - node_memory_SwapFree_bytes > ${SWAP_LIMIT_BYTES}`,
        for: "5m",
        summary: "{{ $labels.node }} uses more than 512 MB swap",
        description: "{{ $value | humanize1024 }}B of swap in use: memory pressure.",
      },
      {
        alert: "UnitFailed",
        severity: "critical",
        expr: 'node_systemd_unit_state{state="failed"} == 1',
        for: "1m",
        summary: "Unit {{ $labels.name }} failed on {{ $labels.node }}",
        description: "systemctl status {{ $labels.name }}; journalctl -u {{ $labels.name }}",
      },
    ],
  },
  {
    name: "xiopro-backups",
    rules: [
      {
        alert: "DatabaseBackupStale",
        severity: "critical",
        expr: `time() - max by (node, instance) (xiopro_job_last_success_timestamp_seconds{name=~"pgbackrest-full|pgbackrest-diff"}) > ${bound("pgbackrest-diff")}`,
        for: "5m",
        summary: `Newest database backup on {{ $labels.node }} is older than ${bound("pgbackrest-diff") / HOUR} h`,
        description:
          "Last successful pgBackRest backup {{ $value | humanizeDuration }} ago. journalctl -u 'xiopro-pgbackrest@*'",
      },
      {
        alert: "BackupStale",
        severity: "critical",
        expr: BACKUP_JOBS.filter((j) => !OWN_ALERT.has(j.job))
          .map((j) => `(${jobAge(j.job)} > ${bound(j.job)})`)
          .join(" or "),
        for: "5m",
        summary: "Job {{ $labels.name }} on {{ $labels.node }} has not succeeded within its bound",
        description: "Last success {{ $value | humanizeDuration }} ago (bounds: infra/plan/jobs.ts).",
      },
      {
        alert: "BackupJobFailed",
        severity: "warning",
        expr: `xiopro_job_last_result{name!~"restore-drill|${INTEGRITY_JOBS}"} == 0`,
        for: "1m",
        summary: "Last run of {{ $labels.name }} on {{ $labels.node }} failed",
        description: `The job keeps the last good data; see ${stateFile("{{ $labels.name }}.json")}`,
      },
      {
        // A read-back that failed means data in the repository is damaged or unreadable: a restore
        // from it may fail, which is worse than a missed backup.
        alert: "BackupRepositoryDamaged",
        severity: "critical",
        expr: `xiopro_job_last_result{name=~"${INTEGRITY_JOBS}"} == 0`,
        for: "1m",
        summary: "{{ $labels.name }} on {{ $labels.node }} found the backup repository damaged or unreadable",
        description: `Take a new full backup and find the cause; the damaged files: ${stateFile("{{ $labels.name }}.json")}`,
      },
      {
        // Per repository (1 at Hetzner, 2 off-site), read from the repository itself: one that
        // stops receiving backups while the other still does is invisible to the jobs' results.
        // Silent until the node's first backup of that tool lands anywhere.
        alert: "BackupRepositoryStale",
        severity: "critical",
        expr: `time() - xiopro_backup_repository_newest_timestamp_seconds > ${bound("pgbackrest-diff")} and on(node, tool) (max by(node, tool) (xiopro_backup_repository_newest_timestamp_seconds) > 0)`,
        for: "30m",
        summary:
          "Repository {{ $labels.repo }} of {{ $labels.node }} has no {{ $labels.tool }} backup newer than a day",
        description:
          "Its newest backup is {{ $value | humanizeDuration }} old. Check the repository's credentials and reachability; the job's state file names the failing repository (docs/recovery.md).",
      },
      {
        // pgBackRest's own status of each repository (2, no backup yet, is BackupRepositoryStale's).
        alert: "BackupRepositoryUnusable",
        severity: "critical",
        expr: 'xiopro_backup_repository_status{tool="pgbackrest"} != 0 != 2',
        for: "2h",
        summary: "pgBackRest cannot use repository {{ $labels.repo }} of {{ $labels.node }}",
        description:
          "Status code {{ $value }} (pgbackrest info): WAL and backups do not reach it. sudo -u postgres pgbackrest --stanza=main --repo={{ $labels.repo }} info",
      },
      {
        alert: "WalArchiveLag",
        severity: "critical",
        expr: "xiopro_archive_oldest_pending_age_seconds > 300",
        for: "1m",
        summary: "WAL waits more than 5 minutes to be archived on {{ $labels.node }}",
        description: "Oldest unarchived segment is {{ $value | humanizeDuration }} old: the RPO bound is broken.",
      },
      {
        alert: "WalArchiveFailing",
        severity: "critical",
        expr: "xiopro_archive_last_failed_time_seconds > xiopro_archive_last_archived_time_seconds",
        for: "5m",
        summary: "archive_command fails on {{ $labels.node }}",
        description: "The newest archive attempt failed. journalctl -u 'postgresql@*' | grep archive",
      },
      {
        // pgBackRest dropped WAL rather than fill the volume (backup.archiveQueueMaxPercent).
        alert: "WalArchiveDropped",
        severity: "critical",
        expr: "xiopro_archive_gap_open == 1",
        for: "1m",
        summary: "WAL was dropped on {{ $labels.node }}: no point-in-time recovery past the gap",
        description: `The repository was unreachable too long. The hourly pgbackrest-check takes a full backup once it answers: ${stateFile("archive-gap.json")}`,
      },
      {
        alert: "RestoreDrillFailed",
        severity: "critical",
        expr: 'xiopro_job_last_result{name="restore-drill"} == 0',
        for: "1m",
        summary: "The restore drill on {{ $labels.node }} failed",
        description: `Backups may not be restorable: ${stateFile("restore-drill.json")}`,
      },
      {
        // One failed drill can be a passing fault (RestoreDrillFailed); two in a row are not.
        alert: "RestoreDrillFailedTwice",
        severity: "critical",
        expr: "xiopro_restore_drill_consecutive_failures >= 2",
        for: "1m",
        summary: "The restore drill on {{ $labels.node }} failed {{ $value }} times in a row",
        description: `Treat the backups as unrestorable until a drill passes: ${stateFile("restore-drill-history.jsonl")}`,
      },
      {
        alert: "RestoreDrillOverBound",
        severity: "warning",
        expr: "xiopro_restore_drill_duration_seconds > xiopro_restore_drill_bound_seconds",
        for: "1m",
        summary: "The last restore drill on {{ $labels.node }} took longer than its bound",
        description:
          "It took {{ $value | humanizeDuration }}: a restore now would too. Raise backup.drillBoundMinutes or make the restore faster (docs/recovery.md).",
      },
      {
        alert: "RestoreDrillStale",
        severity: "warning",
        expr: `${jobAge("restore-drill")} > ${8 * DAY}`,
        for: "5m",
        summary: "No successful restore drill on {{ $labels.node }} for 8 days",
        description: "Last success {{ $value | humanizeDuration }} ago. npm run drill -- --target …",
      },
    ],
  },
  {
    name: "xiopro-sites",
    rules: [
      {
        alert: "SiteDown",
        severity: "critical",
        expr: 'probe_success{job="sites"} == 0',
        for: "5m",
        summary: "{{ $labels.site }} does not answer HTTPS",
        description: "The blackbox probe from {{ $labels.node }} has failed for 5 minutes.",
      },
      {
        alert: "CertificateExpiring",
        severity: "warning",
        expr: `probe_ssl_earliest_cert_expiry{job="sites",tls="acme"} - time() < ${14 * DAY}`,
        for: "10m",
        summary: "Certificate of {{ $labels.site }} expires within 14 days",
        description:
          "Expires in {{ $value | humanizeDuration }}: Caddy's ACME renewal is failing (journalctl -u caddy).",
      },
    ],
  },
  {
    name: "xiopro-releases",
    rules: [
      {
        alert: "AgentdReleaseRolledBack",
        severity: "warning",
        expr: "xiopro_agentd_release_last_success == 0",
        for: "1m",
        summary: "The last agentd release on {{ $labels.node }} failed its gate",
        description: `agentd-release rolled it back (or found no release to return to): the reason and timings are in ${stateFile("agentd-release.json")}. Deploy a fixed release (docs/releases.md).`,
      },
    ],
  },
  {
    name: "xiopro-scaling",
    rules: [
      {
        alert: "ScalingTriggerHostMemory",
        severity: "info",
        scaling: true,
        expr: `${MEMORY_USED} > 75`,
        for: "15m",
        summary: "Scaling trigger: memory on {{ $labels.node }} above 75 % for 15 minutes",
        description: "Seed 000 §13.5A: evaluate a new host. A review, not an action.",
      },
      {
        alert: "ScalingTriggerDataVolume",
        severity: "info",
        scaling: true,
        expr: `${diskUsed('fstype=~"ext4|xfs",mountpoint!="/"')} > 80`,
        for: "15m",
        summary: "Scaling trigger: data volume {{ $labels.mountpoint }} on {{ $labels.node }} above 80 %",
        description: "Seed 000 §13.5A: archive old partitions, evaluate volume expansion.",
      },
      {
        alert: "ScalingTriggerAgentConcurrency",
        severity: "info",
        scaling: true,
        expr: 'count by (node) (node_systemd_unit_state{name=~"agentd-worker@.+",state="active"} == 1) > 8',
        for: "15m",
        summary: "Scaling trigger: more than 8 agent workers active on {{ $labels.node }}",
        description: "Seed 000 §13.5A: evaluate a second host or reduce parallelism.",
      },
    ],
  },
];

/** The platform's groups, each followed by the rules the services' descriptors file under it. */
export const ALERT_GROUPS: AlertGroup[] = PLATFORM_GROUPS.map((g) => ({
  name: g.name,
  rules: [
    ...g.rules,
    ...Object.values(SERVICE_CATALOG).flatMap((s) =>
      (s.alerts ?? []).filter((a) => a.group === g.name).map((a) => a.rule),
    ),
  ],
}));

for (const s of Object.values(SERVICE_CATALOG))
  for (const a of s.alerts ?? [])
    if (!PLATFORM_GROUPS.some((g) => g.name === a.group))
      throw new Error(`${s.name}: alert ${a.rule.alert} names group ${a.group}, which does not exist`);

export const ALL_ALERTS: AlertRule[] = ALERT_GROUPS.flatMap((g) => g.rules);

/** The rule file Prometheus loads (YAML is a superset of JSON; the renderer stringifies it). */
export function ruleFile(): { groups: { name: string; rules: Record<string, unknown>[] }[] } {
  return {
    groups: ALERT_GROUPS.map((g) => ({
      name: g.name,
      rules: g.rules.map((r) => ({
        alert: r.alert,
        expr: r.expr,
        for: r.for,
        labels: { severity: r.severity, ...(r.scaling ? { kind: "scaling" } : {}) },
        annotations: { summary: r.summary, description: r.description },
      })),
    })),
  };
}
