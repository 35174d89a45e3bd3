// Config files generated from the plan (not templates: their shape follows the data).
import type { HostFirewallRule, NodePlan, Plan } from "../infra/plan/index.js";
import { nodeBudget } from "../infra/plan/budget.js";
import { jobsFor } from "../infra/plan/jobs.js";
import { repositoryDestination } from "../infra/plan/egress.js";
import { packagesFor } from "../infra/plan/packages.js";
import {
  DATABASE_NAME,
  etcFile,
  LAYOUT_ENV,
  libFile,
  NODE_LAYOUT,
  PGBACKREST_STANZA,
} from "../infra/catalog/layout.js";
import { portOf, SERVICE_CATALOG } from "../infra/catalog/services.js";

export const AGENTD_HOME = "/srv/agentd";
const HEADER = "# Rendered by xiopro-infra from the stack plan; do not edit on the host.";

const has = (node: NodePlan, service: string) => node.services.some((s) => s.name === service);

/** The node that runs PostgreSQL (a singleton). */
export function databaseNode(plan: Plan): NodePlan | undefined {
  return plan.nodes.find((n) => has(n, "postgresql"));
}

/** nftables: the exposure catalog enforced on the host, default deny inbound. Own table only, so
 * reloading never flushes rules of other software (Tailscale). Every packet from the private network
 * is decided in its own chain, where only the planned peers of class C ports are accepted. */
export function nftablesRuleset(plan: Plan, node: NodePlan): string {
  const rule = (r: HostFirewallRule): string => {
    const port = `${r.protocol} dport ${r.port}`;
    const c = `comment "${r.comment}"`;
    switch (r.from.kind) {
      case "internet":
        return `${port} accept ${c}`;
      case "tailnet":
        return `iifname "tailscale0" ${port} accept ${c}`;
      case "cidrs": {
        const v4 = r.from.cidrs.filter((x) => x.includes("."));
        const v6 = r.from.cidrs.filter((x) => x.includes(":"));
        return [
          v4.length ? `ip saddr { ${v4.join(", ")} } ${port} accept ${c}` : "",
          v6.length ? `ip6 saddr { ${v6.join(", ")} } ${port} accept ${c}` : "",
        ]
          .filter(Boolean)
          .join("\n    ");
      }
      case "peers": {
        const clients = [...new Set(r.from.peers.flatMap((p) => p.clients))].join(" ");
        return `ip saddr { ${r.from.peers.map((p) => p.ip).join(", ")} } ${port} accept comment "${r.comment} from ${clients}"`;
      }
    }
  };
  const [fromPeers, fromOthers] = [
    node.hostFirewall.filter((r) => r.from.kind === "peers"),
    node.hostFirewall.filter((r) => r.from.kind !== "peers"),
  ];
  return [
    "#!/usr/sbin/nft -f",
    HEADER,
    `# ${node.name}: every accepted port is an interface of the exposure matrix (npm run plan shows it).`,
    "table inet xiopro",
    "delete table inet xiopro",
    "table inet xiopro {",
    "  chain input {",
    "    type filter hook input priority filter; policy drop;",
    "    ct state established,related accept",
    "    ct state invalid drop",
    '    iif "lo" accept',
    "    meta l4proto icmp accept",
    "    meta l4proto ipv6-icmp accept",
    `    ip saddr ${plan.network.cidr} jump private`,
    ...fromOthers.map((r) => `    ${rule(r)}`),
    '    limit rate 10/minute burst 20 packets log prefix "xiopro-drop: " level info',
    "    counter drop",
    "  }",
    "  # The private network: only the nodes of each class C port's clients.",
    "  chain private {",
    ...fromPeers.map((r) => `    ${rule(r)}`),
    '    limit rate 10/minute burst 20 packets log prefix "xiopro-private-drop: " level info',
    "    counter drop",
    "  }",
    "  chain forward {",
    "    type filter hook forward priority filter; policy drop;",
    "  }",
    "}",
    ...(node.egress ? egressTable(plan) : []),
    "",
  ].join("\n");
}

/** Where the node keeps its outbound destinations (xiopro-egress reads $XIOPRO_ETC/egress.tsv). */
export const EGRESS_LIST_FILE = etcFile("egress.tsv");

/** The node's outbound destinations as xiopro-egress reads them: host, protocol, port, why. */
export function egressList(plan: Plan, node: NodePlan): string {
  const repos = has(node, "backup") ? repositories(plan).map(([, r]) => repositoryDestination(r)) : [];
  const all = [...node.egress!.destinations, ...repos.filter((d) => d !== undefined)];
  return [
    HEADER,
    "# Outbound destinations of this node (docs/egress.md): host, protocol, port, why. xiopro-egress adds",
    "# the resolvers of /etc/resolv.conf and the hosts of the apt sources.",
    ...all.map((d) => [d.host, d.protocol, d.port, d.why].join("\t")),
    "",
  ].join("\n");
}

/** The nftables set element type of the egress sets: address, transport protocol, port. */
const EGRESS_KEY = { allow4: "ipv4_addr", allow6: "ipv6_addr" } as const;

/**
 * The outbound allowlist (docs/egress.md): a process that is not root opens connections only to the
 * private network and to what xiopro-egress resolved into the sets. Root (the system itself: apt's
 * frontend, cloud-init, tailscaled) is not limited; a root compromise would own the firewall anyway.
 */
function egressTable(plan: Plan): string[] {
  return [
    `# Outbound: what the node's services need (${EGRESS_LIST_FILE}), refreshed by xiopro-egress.`,
    "table inet xiopro_egress",
    "delete table inet xiopro_egress",
    "table inet xiopro_egress {",
    ...Object.entries(EGRESS_KEY).map(
      ([set, type]) => `  set ${set} {\n    type ${type} . inet_proto . inet_service\n    flags timeout\n  }`,
    ),
    "  chain output {",
    "    type filter hook output priority filter; policy accept;",
    "    ct state established,related accept",
    '    oif "lo" accept',
    "    meta skuid 0 accept",
    `    ip daddr ${plan.network.cidr} accept`,
    "    meta l4proto { icmp, ipv6-icmp } accept",
    "    ip daddr . meta l4proto . th dport @allow4 accept",
    "    ip6 daddr . meta l4proto . th dport @allow6 accept",
    '    limit rate 10/minute burst 20 packets log prefix "xiopro-egress-drop: " level info',
    "    counter reject with icmpx admin-prohibited",
    "  }",
    "}",
  ];
}

/** Where the node keeps ingress.acmeCaRoot, the root Caddy trusts for the ACME directory's HTTPS. */
export const ACME_CA_ROOT_FILE = "/etc/caddy/acme-ca-root.pem";

export function caddyfile(plan: Plan, node: NodePlan): string {
  const internal = plan.ingress.tls === "internal";
  const global = ["{", `\tadmin localhost:${portOf("ingress", "caddy-admin")}`];
  // Behind the balancer Caddy serves plain HTTP and orders no certificate.
  if (node.balancer) global.push("\tauto_https off");
  else if (internal) global.push("\tlocal_certs", "\tskip_install_trust");
  else {
    // One ACME CA, named: no silent fallback to another issuer the operator did not choose.
    global.push(`\tacme_ca ${plan.ingress.acmeDirectory}`);
    if (plan.ingress.acmeCaRoot) global.push(`\tacme_ca_root ${ACME_CA_ROOT_FILE}`);
    if (plan.ingress.acmeEmail) global.push(`\temail ${plan.ingress.acmeEmail}`);
  }
  global.push("}");
  // Behind the balancer, which terminates TLS: plain HTTP on the private address, and the client
  // address it reports (X-Forwarded-For) is passed on only when the request comes from it.
  const lb = node.balancer;
  const sites = node.sites.map((s) =>
    [
      lb ? `http://${s.hostname} {` : `${s.hostname} {`,
      ...(lb ? [`\tbind ${node.privateIp}`] : internal ? ["\ttls internal"] : []),
      "\tencode zstd gzip",
      '\theader Strict-Transport-Security "max-age=31536000; includeSubDomains"',
      "\theader -Server",
      lb
        ? `\treverse_proxy 127.0.0.1:${s.upstreamPort} {\n\t\ttrusted_proxies ${lb.privateIp}/32\n\t}`
        : `\treverse_proxy 127.0.0.1:${s.upstreamPort}`,
      "}",
    ].join("\n"),
  );
  // Request metrics on the private address for Prometheus (class C); the admin API stays local.
  const metricsPort = node.services
    .find((s) => s.name === "ingress")!
    .interfaces.find((i) => i.name === "caddy-metrics")!.port;
  const metrics = [
    `http://${node.privateIp}:${metricsPort} {`,
    `\tbind ${node.privateIp}`,
    "\tmetrics /metrics",
    "}",
  ].join("\n");
  return [HEADER.replace(/^# /, "# "), ...global, "", ...sites.flatMap((s) => [s, ""]), metrics, ""].join("\n");
}

export function postgresqlConf(plan: Plan, node: NodePlan): string {
  const b = nodeBudget(node.memoryGb, node.cores, plan.agentd.workers).postgres;
  const listen = node.services.find((s) => s.name === "postgresql")!.interfaces.some((i) => i.class === "C")
    ? `localhost,${node.privateIp}`
    : "localhost";
  return [
    HEADER,
    `# Sized for ${node.serverType} (${node.memoryGb} GB RAM) from docs/architecture.md, seed 001's tuning at 30 GB.`,
    `listen_addresses = '${listen}'`,
    "password_encryption = scram-sha-256",
    `max_connections = ${b.maxConnections}`,
    `shared_buffers = ${b.sharedBuffersMb}MB`,
    `effective_cache_size = ${b.effectiveCacheSizeMb}MB`,
    `work_mem = ${b.workMemMb}MB`,
    `maintenance_work_mem = ${b.maintenanceWorkMemMb}MB`,
    `autovacuum_vacuum_scale_factor = ${b.autovacuumVacuumScaleFactor}`,
    "wal_level = replica",
    "max_wal_senders = 3",
    "archive_mode = on",
    `archive_command = '${libFile("xiopro-backup")} pgbackrest-archive-push %p'`,
    `archive_timeout = ${plan.backup.archiveTimeoutSeconds}`,
    ...lentLines(node, "postgresql", "postgresql.conf"),
    "log_line_prefix = '%m [%p] %q%u@%d '",
    "log_min_duration_statement = 1000",
    "",
  ].join("\n");
}

/** Lines other services add to one of a service's generated config files (their `lends`). */
function lentLines(node: NodePlan, service: string, file: string): readonly string[] {
  return node.services.find((s) => s.name === service)?.additions.conf?.[file] ?? [];
}

export function pgHba(plan: Plan, node: NodePlan): string {
  return [
    HEADER,
    "# TYPE  DATABASE  USER        ADDRESS          METHOD",
    "local   all       postgres                     peer",
    "local   all       prometheus                   peer",
    "local   all       all                          scram-sha-256",
    "host    all       all         127.0.0.1/32     scram-sha-256",
    "host    all       all         ::1/128          scram-sha-256",
    // From the private network, only what clients on other nodes lend: one line per role and address.
    ...lentLines(node, "postgresql", "pg_hba.conf"),
    "",
  ].join("\n");
}

type Repository = Plan["backup"]["repository"] | NonNullable<Plan["backup"]["offsite"]>;

/** The node's repositories by pgBackRest index: repo1 at Hetzner, repo2 off-site when configured. */
export function repositories(plan: Plan): [number, Repository][] {
  return [
    [1, plan.backup.repository],
    ...(plan.backup.offsite ? [[2, plan.backup.offsite] as [number, Repository]] : []),
  ];
}

function repoUrl(r: Repository, tool: "restic"): string {
  const p = `${r.path.replace(/\/$/, "")}/${tool}`;
  if (r.kind === "s3") return `s3:${r.endpoint}/${r.bucket}${p}`;
  if (r.kind === "sftp") return `sftp:${r.user}@${r.host}:${p}`;
  return p;
}

/** One repository's pgbackrest.conf lines (repoN-*); both keep the same retention. */
function pgbackrestRepo(plan: Plan, n: number, r: Repository): string[] {
  const lines = [`repo${n}-type=${r.kind}`, `repo${n}-path=${r.path.replace(/\/$/, "")}/pgbackrest`];
  if (r.kind === "s3")
    lines.push(
      `repo${n}-s3-endpoint=${r.endpoint!.replace(/^https:\/\//, "")}`,
      `repo${n}-s3-bucket=${r.bucket}`,
      `repo${n}-s3-region=${r.region}`,
      `repo${n}-s3-uri-style=path`,
    );
  if (r.kind === "sftp")
    lines.push(
      `repo${n}-sftp-host=${r.host}`,
      `repo${n}-sftp-host-port=${r.port}`,
      `repo${n}-sftp-host-user=${r.user}`,
      `repo${n}-sftp-host-key-check-type=accept-new`,
      `repo${n}-sftp-host-key-hash-type=sha256`,
    );
  lines.push(
    `repo${n}-cipher-type=aes-256-cbc`,
    `repo${n}-retention-full=${Math.max(2, Math.ceil(plan.backup.retention.weekly / 2))}`,
    `repo${n}-retention-full-type=count`,
  );
  return lines;
}

/** archive-push's I/O timeout with two repositories: a healthy one makes progress within it. */
export const ARCHIVE_PUSH_IO_TIMEOUT_SECONDS = 5;
/** How long a backup waits for its WAL in the repository with two repositories (default 60 s). */
export const BACKUP_ARCHIVE_TIMEOUT_SECONDS = 300;

export function pgbackrestConf(plan: Plan): string {
  const lines = [
    HEADER,
    "# Secrets (cipher pass, keys) come from systemd credentials as PGBACKREST_* variables.",
    "# archive-push sends WAL to every repository; each backup job backs up to each in turn.",
    "[global]",
    ...repositories(plan).flatMap(([n, r]) => pgbackrestRepo(plan, n, r)),
  ];
  lines.push(
    "compress-type=zst",
    "process-max=2",
    "start-fast=y",
    "archive-async=y",
    "spool-path=/var/spool/pgbackrest",
    "log-path=/var/log/pgbackrest",
    "log-level-console=info",
    "log-level-file=detail",
    "",
    "[global:archive-push]",
    "process-max=2",
  );
  // archive-push-queue-max: the node sizes it from the mounted database volume (setup-postgresql
  // archive-queue), so a grown volume raises it and a resize changes no rendered file.
  const db = databaseNode(plan);
  // pgBackRest retries an unreachable repository for about 4 × io-timeout per operation (60 s by
  // default: minutes), and an asynchronous run pushes to no repository until it gives up: with two,
  // one that is away would hold WAL back from the other. Measured: test/node/two-repositories.test.ts.
  if (plan.backup.offsite)
    lines.push(
      `io-timeout=${ARCHIVE_PUSH_IO_TIMEOUT_SECONDS}`,
      "",
      // Then WAL reaches the repository that answers in batches (PostgreSQL retries a failed
      // archive_command after up to a minute): a backup waits that long for its WAL.
      "[global:backup]",
      `archive-timeout=${BACKUP_ARCHIVE_TIMEOUT_SECONDS}`,
    );
  // A restore runs while the database is down and nothing else needs the cores: all of them
  // (a backup keeps to 2 beside a running database).
  if (db) lines.push("", "[global:restore]", `process-max=${restoreProcesses(db)}`);
  lines.push("");
  return lines.join("\n");
}

/** pgBackRest's processes for a restore on the database node: one per core, at least 2. */
export const restoreProcesses = (db: NodePlan): number => Math.max(2, db.cores);

/**
 * The name of repository `n`'s setting `name` in backup.env: repository 1 keeps the plain names its
 * tools read (RESTIC_REPOSITORY, AWS_DEFAULT_REGION), the off-site one has them prefixed
 * (XIOPRO_REPO2_RESTIC_REPOSITORY); xiopro-repository.sh's restic_repository switches between them.
 */
export const repositorySetting = (n: number, name: string): string =>
  n === 1 ? name : `XIOPRO_REPO${n}_${name.replace(/^XIOPRO_(REPO_)?/, "")}`;

/** A node's non-secret backup settings by variable name: backup.env renders them, the rebuild reads them. */
export function backupSettings(plan: Plan, node: NodePlan): Record<string, string> {
  const paths = [
    NODE_LAYOUT.XIOPRO_ETC,
    "/etc/caddy",
    "/etc/pgbackrest",
    NODE_LAYOUT.XIOPRO_CREDSTORE,
    ...node.volumes.filter((v) => v.mountPoint !== NODE_LAYOUT.XIOPRO_PG_VOLUME).map((v) => v.mountPoint),
  ];
  const settings: Record<string, string> = {
    XIOPRO_REPOS: repositories(plan)
      .map(([n]) => n)
      .join(" "),
    PGBACKREST_STANZA,
    // The share of the database volume that WAL waiting for a repository may fill (setup-postgresql).
    XIOPRO_ARCHIVE_QUEUE_MAX_PERCENT: String(plan.backup.archiveQueueMaxPercent),
    XIOPRO_BACKUP_PATHS: paths.join(" "),
    XIOPRO_RETENTION_DAILY: String(plan.backup.retention.daily),
    XIOPRO_RETENTION_WEEKLY: String(plan.backup.retention.weekly),
    XIOPRO_RETENTION_MONTHLY: String(plan.backup.retention.monthly),
  };
  for (const [n, repo] of repositories(plan)) {
    const entries: [string, string][] = [
      ["XIOPRO_REPO_KIND", repo.kind],
      ["RESTIC_REPOSITORY", repoUrl(repo, "restic")],
    ];
    if (repo.kind === "s3") entries.push(["AWS_DEFAULT_REGION", `${repo.region}`]);
    if (repo.kind === "sftp")
      // A Storage Box the stack creates has its host and user only once it exists (withStorageBox);
      // the user-data fingerprint is rendered before, with them unset, as before this was a record.
      entries.push(
        ["XIOPRO_SFTP_HOST", `${repo.host}`],
        ["XIOPRO_SFTP_PORT", `${repo.port}`],
        ["XIOPRO_SFTP_USER", `${repo.user}`],
      );
    for (const [name, value] of entries) settings[repositorySetting(n, name)] = value;
  }
  // What xiopro-restore stops while it replaces the database: the writers on this node.
  if (has(node, "postgresql"))
    settings.XIOPRO_RESTORE_STOP_UNITS = node.services
      .flatMap((s) => SERVICE_CATALOG[s.name]?.stopForRestore ?? [])
      .join(" ");
  if (has(node, "postgresql")) settings.XIOPRO_DRILL_BOUND_SECONDS = String(plan.backup.drillBoundMinutes * 60);
  const posix = repositories(plan).filter(([, x]) => x.kind === "posix");
  if (posix.length)
    // Created by bootstrap for postgres; tests only (refused in prd).
    settings.XIOPRO_POSIX_PGBACKREST_PATH = posix.map(([, x]) => `${x.path.replace(/\/$/, "")}/pgbackrest`).join(" ");
  return settings;
}

export function backupEnv(plan: Plan, node: NodePlan): string {
  const lines = [
    HEADER,
    "# Non-secret backup settings; secrets arrive as systemd credentials (docs/secrets.md).",
    // Values are plain words and paths; the path list is the one with spaces.
    ...Object.entries(backupSettings(plan, node)).map(([k, v]) => `${k}=${v.includes(" ") ? `"${v}"` : v}`),
  ];
  return lines.join("\n") + "\n";
}

/** A service's settings from its options (/etc/xiopro/<service>.env): plain words, no spaces. */
export function serviceEnv(service: string, env: [string, string][]): string {
  for (const [k, v] of env)
    if (!/^[A-Z][A-Z0-9_]*$/.test(k) || !/^[A-Za-z0-9_.,:/@+-]*$/.test(v))
      throw new Error(`${service}: setting ${k}=${v} is not a plain NAME=word line`);
  return [HEADER, `# Settings of ${service} from its options.`, ...env.map(([k, v]) => `${k}=${v}`), ""].join("\n");
}

/**
 * The node's layout as its scripts read it (LAYOUT_ENV_FILE): every path and name they use comes
 * from here, none is restated in a script. Tests render one with their own directories.
 */
export function layoutEnv(values: Record<keyof typeof LAYOUT_ENV, string> = LAYOUT_ENV): string {
  return [HEADER, ...Object.entries(values).map(([k, v]) => `${k}=${v}`), ""].join("\n");
}

export function nodeEnv(plan: Plan, node: NodePlan): string {
  // From the descriptors: what another step starts stays out; what its package started with its
  // own defaults is restarted; the rest is enabled and started.
  const startedElsewhere = new Set(Object.values(SERVICE_CATALOG).flatMap((s) => Object.keys(s.startedBy ?? {})));
  const units = node.services.flatMap((s) => s.units).filter((u) => !startedElsewhere.has(u));
  const timers = node.services.flatMap((s) => s.timers);
  const installed = new Set(packagesFor(plan, node));
  const restart = Object.values(SERVICE_CATALOG).flatMap((s) =>
    s.packages?.names.every((p) => installed.has(p)) ? (s.packages.restart ?? []) : [],
  );
  const q = (v: string) => `"${v}"`;
  return [
    HEADER,
    `XIOPRO_NODE=${node.name}`,
    `XIOPRO_PACKAGES=${q(packagesFor(plan, node).join(" "))}`,
    `XIOPRO_STACK=${plan.stack}`,
    `XIOPRO_SERVICES=${q(node.services.map((s) => s.name).join(" "))}`,
    `XIOPRO_ENABLE_UNITS=${q(units.filter((u) => !restart.includes(u)).join(" "))}`,
    `XIOPRO_ENABLE_TIMERS=${q([...timers, ...(node.egress ? ["xiopro-egress.timer"] : [])].join(" "))}`,
    `XIOPRO_RESTART_UNITS=${q(restart.join(" "))}`,
    `XIOPRO_ADMIN_PATH=${plan.adminPath.mode}`,
    // job:unit, so the node's scripts start a job without knowing its unit's name.
    `XIOPRO_JOBS=${q(
      jobsFor(node.services.map((s) => s.name))
        .map((j) => `${j.job}:${j.unit}`)
        .join(" "),
    )}`,
    `AGENTD_USER=${plan.agentd.user}`,
    `AGENTD_HOME=${AGENTD_HOME}`,
    "",
  ].join("\n");
}

/** The port agentd-web listens on, on this node (its class D interface); 0 on a node without it. */
export function agentdWebPort(node: NodePlan): number {
  return node.services.find((s) => s.name === "agentd-web")?.interfaces.find((i) => i.class === "D")?.port ?? 0;
}

/**
 * What agentd-release needs to gate a deploy on this node (/etc/xiopro/agentd-release.env): the web
 * unit and its health URL, then the workers, which are admitted only after the web tier is healthy.
 */
export function agentdReleaseEnv(plan: Plan, node: NodePlan): string {
  const units = (service: string) => node.services.find((s) => s.name === service)?.units ?? [];
  const port = agentdWebPort(node);
  const r = plan.agentd.release;
  return [
    HEADER,
    "# The release gate of agentd-release (docs/releases.md).",
    `AGENTD_RELEASE_KEEP=${r.keep}`,
    `AGENTD_WEB_UNITS="${units("agentd-web").join(" ")}"`,
    `AGENTD_HEALTH_URL=${port ? `http://127.0.0.1:${port}${r.healthPath}` : ""}`,
    `AGENTD_WORKER_UNITS="${units("agentd-worker").join(" ")}"`,
    `AGENTD_GATE_TIMEOUT=${r.timeoutSeconds}`,
    `AGENTD_GATE_SETTLE=${r.settleSeconds}`,
    "",
  ].join("\n");
}

export function agentdEnv(plan: Plan, node: NodePlan): string {
  const env: Record<string, string> = {
    // Beside the database over loopback; elsewhere over the private network (pg_hba admits this node).
    DATABASE_HOST: has(node, "postgresql") ? "127.0.0.1" : (databaseNode(plan)?.privateIp ?? "127.0.0.1"),
    DATABASE_NAME,
    ...plan.agentd.environment,
  };
  return [
    HEADER,
    "# Plain settings only; secrets are credentials exposed by agentd-exec.",
    ...Object.entries(env).map(([k, v]) => `${k}=${JSON.stringify(v)}`),
    "",
  ].join("\n");
}
