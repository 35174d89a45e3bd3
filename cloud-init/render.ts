// Renders one node's #cloud-config from the plan. Pure: same plan and facts → same bytes.
// Units, scripts and config files are template files (units/, cloud-init/files/); the
// generated configs (firewall, Caddyfile, PostgreSQL) are built from the plan in ./configs.
import { gzipSync } from "node:zlib";
import { tar } from "./tar.js";
import { stringify } from "yaml";
import { ADMIN_USER, etcFile, LAYOUT_ENV_FILE, libFile, NODE_LAYOUT, WAL_RECEIVER } from "../infra/catalog/layout.js";
import { SERVICE_CATALOG, type GeneratedConfig } from "../infra/catalog/services.js";
import type { NodePlan, Plan } from "../infra/plan/index.js";
import { nodeBudget, type UnitBudget } from "../infra/plan/budget.js";
import { jobsFor, SWEEPER_CALENDAR } from "../infra/plan/jobs.js";
import { credentialLines } from "../infra/config/secrets.js";
import {
  agentdEnv,
  agentdReleaseEnv,
  agentdWebPort,
  backupEnv,
  caddyfile,
  ACME_CA_ROOT_FILE,
  databaseNode,
  EGRESS_LIST_FILE,
  egressList,
  nftablesRuleset,
  layoutEnv,
  nodeEnv,
  pgbackrestConf,
  pgHba,
  postgresqlConf,
  serviceEnv,
  AGENTD_HOME,
} from "./configs.js";
import { monitoringDefaults } from "./monitoring.js";
import { databaseRoleOf } from "../infra/catalog/services/postgresql.js";
import { packagesFor } from "../infra/plan/packages.js";
import { fill, fillFrom, readTemplate } from "./templates.js";

/** Hetzner's limit for user-data. */
export const USER_DATA_LIMIT = 32 * 1024;

/** Facts known only after resources exist; the rest comes from the plan. */
export interface RenderFacts {
  /** Hetzner volume id per volume key: the guest sees /dev/disk/by-id/scsi-0HC_Volume_<id>. */
  volumeIds: Record<string, string>;
  /** Single-use, short-lived tailnet join key: the one secret user-data may carry (docs/architecture.md D3). */
  tailscaleAuthKey?: string;
}

export const TAILSCALE_KEY_PATH = etcFile("tailscale-authkey");

export interface WriteFile {
  path: string;
  content: string;
  permissions: string;
  owner?: string;
  encoding?: "b64";
  /** Must exist before packages install (package defaults that dpkg keeps as ours). */
  early?: boolean;
}

export const VOLUMES_PATH = etcFile("volumes");
/** Servers get what they need, not what packages recommend (e.g. node exporter's ipmitool). */
// No translated package descriptions: nothing on a node reads them, and they are most of an index update.
export const APT_CONF =
  'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\nAcquire::Languages "none";\n';

/**
 * Debian's hook for package scripts: exit 101 forbids starting services. First boot installs the
 * packages under it and bootstrap starts each service once, with the node's settings, behind the
 * host firewall (nodeEnv: XIOPRO_RESTART_UNITS, XIOPRO_ENABLE_UNITS); the bake server does the same.
 */
export const POLICY_RC_D = "/usr/sbin/policy-rc.d";
export const NO_SERVICE_STARTS =
  "#!/bin/sh\n# Rendered by xiopro-infra: cloud-init's runcmd removes it once the packages are installed.\nexit 101\n";

/** postgresql-common's drop-in: no cluster at package install; setup-postgresql makes it on the volume. */
export const NO_PACKAGE_CLUSTER_FILE = "/etc/postgresql-common/createcluster.d/50-xiopro.conf";
export const NO_PACKAGE_CLUSTER =
  "# Rendered by xiopro-infra: setup-postgresql creates the cluster on the database volume.\ncreate_main_cluster = false\n";

/** The exporter's extra queries (WAL archive state); read at its start, so an early file. */
export const PG_EXPORTER_QUERIES = etcFile("postgres-exporter-queries.yaml");
const has = (node: NodePlan, service: string) => node.services.some((s) => s.name === service);

/**
 * The node's volumes by their Hetzner ids, for xiopro-volumes. Not cloud-init's `mounts`: Pulumi
 * attaches volumes after the server exists, and cloud-init skips (writes no fstab line for) a
 * device that is not there yet.
 */
export function volumesFile(node: NodePlan, facts: RenderFacts): WriteFile[] {
  if (node.volumes.length === 0) return [];
  const lines = node.volumes.map((v) => {
    const id = facts.volumeIds[v.key];
    if (!id) throw new Error(`no volume id for ${v.key} on ${node.name}`);
    return `${id} ${v.mountPoint} ${v.filesystem} ${v.attachTimeoutSeconds}`;
  });
  return [
    {
      path: VOLUMES_PATH,
      content: `# id mount-point filesystem attach-timeout-seconds (xiopro-volumes)\n${lines.join("\n")}\n`,
      permissions: "0644",
      early: true,
    },
  ];
}

function mb(n: number): string {
  return n % 1024 === 0 ? `${n / 1024}G` : `${n}M`;
}

function budgetVars(prefix: string, b: UnitBudget): Record<string, string | number> {
  return {
    [`${prefix}_MEMORY_HIGH`]: mb(b.memoryHighMb),
    [`${prefix}_MEMORY_MAX`]: mb(b.memoryMaxMb),
    [`${prefix}_CPU_QUOTA`]: `${b.cpuQuotaPercent}%`,
    [`${prefix}_TASKS_MAX`]: b.tasksMax,
  };
}

const UNIT_DIR = "/etc/systemd/system/";

/**
 * The facts a service's templates may ask for on this node, by placeholder name (the layout's come
 * from cloud-init/templates.ts). A template that asks for one this node lacks fails to render.
 */
function templateFacts(plan: Plan, node: NodePlan): Record<string, string | number> {
  const budget = nodeBudget(node.memoryGb, node.cores, plan.agentd.workers);
  const db = databaseNode(plan);
  const repo = plan.backup.repository;
  return {
    AGENTD_HOME,
    AGENTD_USER: plan.agentd.user,
    PRIVATE_SUBNET: plan.network.subnet,
    PRIVATE_NETWORK: plan.network.cidr,
    // A CI runner's jobs may use the node's memory but for 512 MB kept for the system.
    CI_RUNNER_MEMORY_MAX: `${Math.max(512, node.memoryGb * 1024 - 512)}M`,
    CI_RUNNER_MEMORY_HIGH: `${Math.floor(Math.max(512, node.memoryGb * 1024 - 512) * 0.9)}M`,
    AGENTD_WEB_PORT: agentdWebPort(node),
    // Workers start once the web tier beside them is healthy (none on a node without it).
    AGENTD_WEB_GATE: agentdWebPort(node)
      ? `--after-healthy http://127.0.0.1:${agentdWebPort(node)}${plan.agentd.release.healthPath}`
      : "",
    AGENTD_WEB_COMMAND: plan.agentd.webCommand,
    AGENTD_WORKER_COMMAND: plan.agentd.workerCommand,
    AGENTD_SWEEPER_COMMAND: plan.agentd.sweeperCommand,
    ...budgetVars("AGENTD_WEB", budget.agentdWeb),
    ...budgetVars("AGENTD_WORKER", budget.agentdWorker),
    ...budgetVars("AGENTD_SWEEPER", budget.agentdSweeper),
    ...budgetVars("PG", budget.postgres.unit),
    SWEEPER_CALENDAR,
    ...(db ? { DATABASE_HOST: db.privateIp } : {}),
    // A posix repository (tests only) is a local directory the sandbox must let the job write.
    BACKUP_LOCAL_REPOSITORY: repo.kind === "posix" ? `ReadWritePaths=${repo.path}` : "",
    BACKUP_MOUNTS: node.volumes.map((v) => v.mountPoint).join(" ") || "/etc",
  };
}

/** A unit's template values: the node's facts and the credentials granted to the unit. */
function unitVars(node: NodePlan, facts: Record<string, string | number>, unit: string) {
  const role = databaseRoleOf(unit);
  return {
    ...facts,
    // The cold-start gate of a unit that logs in to the platform database (agentd-exec).
    DATABASE_GATE: role ? `--after-database ${role}` : "",
    CREDENTIALS: credentialLines(node.secrets, unit),
    CREDENTIAL_FILES: node.secrets
      .filter((s) => s.grants.some((g) => g.unit === unit))
      .map((s) => s.file)
      .join(" "),
  };
}

/**
 * The files the node's services declare (their descriptors' `files`), in catalog order, each path
 * once: those for user-data, or (`afterBoot`) those for the operations bundle.
 */
export function serviceFiles(plan: Plan, node: NodePlan, afterBoot = false): WriteFile[] {
  const facts = templateFacts(plan, node);
  const out = new Map<string, WriteFile>();
  for (const s of node.services)
    for (const f of SERVICE_CATALOG[s.name]?.files ?? []) {
      if (!!f.afterBoot !== afterBoot) continue;
      if (f.template.startsWith("units/")) {
        // A drop-in (`postgresql@.service.d/x.conf`) takes the credentials of the unit it extends.
        const unit = f.path.split("/")[0]!.replace(/\.d$/, "");
        const content = fillFrom(f.template, unitVars(node, facts, unit));
        out.set(UNIT_DIR + f.path, { path: UNIT_DIR + f.path, content, permissions: "0644" });
      } else {
        // Scripts take no values: they read the node's layout and settings files.
        const content = readTemplate(f.template);
        out.set(f.path, { path: f.path, content, permissions: content.startsWith("#!") ? "0755" : "0644" });
      }
    }
  return [...out.values()];
}

/** Units rendered from units/ outside the services' own files: drop-ins and the backup jobs. */
function platformUnits(plan: Plan, node: NodePlan): WriteFile[] {
  const facts = templateFacts(plan, node);
  const out: [string, string][] = [];
  // Units the distro runs as one shared system user (the exporters, Prometheus and Alertmanager as
  // "prometheus"): those no descriptor grants a credential must not see the ones that are.
  const mayHoldCredentials = new Set(
    Object.values(SERVICE_CATALOG).flatMap((s) => (s.credentials ?? []).flatMap((c) => c.grants.map((g) => g.unit))),
  );
  for (const unit of node.services
    .filter((s) => SERVICE_CATALOG[s.name]?.sharedUser)
    .flatMap((s) => s.units)
    .filter((u) => !mayHoldCredentials.has(u))) {
    out.push([`${unit}.d/40-xiopro-no-credentials.conf`, readTemplate("units/no-credentials.conf")]);
  }
  if (node.egress)
    for (const unit of ["xiopro-egress.service", "xiopro-egress.timer"])
      out.push([unit, fillFrom(`units/${unit}`, unitVars(node, facts, unit))]);
  const jobs = jobsFor(node.services.map((s) => s.name));
  const serviceTemplates = [...new Set(jobs.map((j) => j.unit.replace(/@[^.]+\./, "@.")))];
  for (const unit of serviceTemplates) out.push([unit, fillFrom(`units/${unit}`, unitVars(node, facts, unit))]);
  for (const j of jobs) {
    out.push([
      j.timer,
      fill("units/xiopro-backup.timer", {
        TIMER_UNIT: j.unit,
        TIMER_PURPOSE: j.purpose,
        TIMER_CALENDAR: j.calendar,
        TIMER_JITTER: j.jitter,
      }),
    ]);
  }
  return out.map(([p, content]) => ({ path: UNIT_DIR + p, content, permissions: "0644" }));
}

/** The dead-man switch of in-place configuration changes (xiopro-guard): on every node, after boot. */
export function guardScript(): WriteFile {
  return { path: libFile("xiopro-guard"), content: readTemplate("cloud-init/files/xiopro-guard"), permissions: "0755" };
}

/** Recovery tools: they travel in the operations bundle over the admin path (ADR 0002). */
export function recoveryScripts(node: NodePlan): WriteFile[] {
  if (!(has(node, "backup") && has(node, "postgresql"))) return [];
  return ["xiopro-restore-drill", "xiopro-restore", "xiopro-manifest"].map((s) => ({
    path: libFile(s),
    content: readTemplate(`cloud-init/files/${s}`),
    permissions: "0755",
  }));
}

/** The host's scripts under /usr/local/lib/xiopro (the services bring their own). */
function hostScripts(node: NodePlan): WriteFile[] {
  const scripts = ["xiopro-lib.sh", "xiopro-job", "bootstrap", "xiopro-credentials"];
  if (node.volumes.length > 0) scripts.push("xiopro-volumes");
  if (node.egress) scripts.push("xiopro-egress");
  // The receiver of the operations bundle (cloud-init/ops-bundle.ts), which every node gets.
  scripts.push("xiopro-ops");
  return scripts.map((s) => ({
    path: libFile(s),
    content: readTemplate(`cloud-init/files/${s}`),
    permissions: s.endsWith(".sh") ? "0644" : "0755",
  }));
}

const portOf = (node: NodePlan, service: string) => node.services.find((s) => s.name === service)!.interfaces[0]!.port;
const conf = (path: string, content: string, early?: true): WriteFile => ({
  path,
  content,
  permissions: "0644",
  ...(early ? { early } : {}),
});

/**
 * The generated config files by name (a descriptor's `configs`): each decides its path and whether
 * it applies. Exporters and Caddy start on package install, so their config is early: in place
 * first, so the exporters never listen beyond the private address and Caddy never serves its
 * default site.
 */
const GENERATED: Record<GeneratedConfig, (plan: Plan, node: NodePlan) => WriteFile[]> = {
  "fail2ban-sshd": (plan) =>
    plan.adminPath.sshAllowlist.length > 0
      ? [conf("/etc/fail2ban/jail.d/sshd.local", readTemplate("cloud-init/files/fail2ban-sshd.conf"))]
      : [],
  "node-exporter-defaults": (_plan, node) => [
    conf(
      "/etc/default/prometheus-node-exporter",
      fill("cloud-init/files/node-exporter.default", {
        PRIVATE_IP: node.privateIp,
        NODE_EXPORTER_PORT: portOf(node, "node-exporter"),
      }),
      true,
    ),
  ],
  caddyfile: (plan, node) => [conf("/etc/caddy/Caddyfile", caddyfile(plan, node), true)],
  "acme-ca-root": (plan) =>
    plan.ingress.tls === "acme" && plan.ingress.acmeCaRoot
      ? [conf(ACME_CA_ROOT_FILE, plan.ingress.acmeCaRoot.trim() + "\n", true)]
      : [],
  "agentd-env": (plan, node) => [
    conf(etcFile("agentd.env"), agentdEnv(plan, node)),
    conf(etcFile("agentd-release.env"), agentdReleaseEnv(plan, node)),
  ],
  // The server package would make a cluster on the root disk at install (initdb and its sync: ~40 s
  // of first boot under emulation) that setup-postgresql throws away for the volume; it makes none.
  "postgresql-conf": (plan, node) => [
    conf(etcFile("postgresql.conf"), postgresqlConf(plan, node)),
    conf(NO_PACKAGE_CLUSTER_FILE, NO_PACKAGE_CLUSTER, true),
  ],
  "pg-hba": (plan, node) => [conf(etcFile("pg_hba.conf"), pgHba(plan, node))],
  "backup-env": (plan, node) => [conf(etcFile("backup.env"), backupEnv(plan, node))],
  "postgres-exporter-defaults": (_plan, node) => [
    conf(
      "/etc/default/prometheus-postgres-exporter",
      fill("cloud-init/files/postgres-exporter.default", {
        PRIVATE_IP: node.privateIp,
        POSTGRES_EXPORTER_PORT: portOf(node, "postgres-exporter"),
        QUERIES: PG_EXPORTER_QUERIES,
      }),
      true,
    ),
    conf(
      PG_EXPORTER_QUERIES,
      fill("cloud-init/files/postgres-exporter-queries.yaml", { WAL_RECEIVER_SLOT: WAL_RECEIVER.slot }),
      true,
    ),
  ],
  "monitoring-defaults": (plan, node) => monitoringDefaults(plan, node),
  // pgBackRest's settings where it backs up a database.
  "pgbackrest-conf": (plan, node) =>
    has(node, "postgresql") ? [conf("/etc/pgbackrest/pgbackrest.conf", pgbackrestConf(plan))] : [],
};

function configFiles(plan: Plan, node: NodePlan): WriteFile[] {
  const files: WriteFile[] = [
    { path: "/etc/nftables.conf", content: nftablesRuleset(plan, node), permissions: "0644" },
    ...(node.egress ? [{ path: EGRESS_LIST_FILE, content: egressList(plan, node), permissions: "0644" }] : []),
    {
      path: "/etc/ssh/sshd_config.d/10-xiopro.conf",
      content: fill("cloud-init/files/sshd-hardening.conf", { ADMIN_USER }),
      permissions: "0644",
    },
    {
      path: "/etc/sysctl.d/90-xiopro.conf",
      content: readTemplate("cloud-init/files/sysctl-hardening.conf"),
      permissions: "0644",
    },
    {
      path: "/etc/systemd/journald.conf.d/10-xiopro.conf",
      content: fill("cloud-init/files/journald.conf", { JOURNAL_MAX_USE: "2G" }),
      permissions: "0644",
    },
    {
      path: "/etc/apt/apt.conf.d/52xiopro-unattended-upgrades",
      content: fill("cloud-init/files/unattended-upgrades.conf", {
        AUTO_REBOOT: String(plan.maintenance.autoReboot),
        REBOOT_TIME: node.rebootTime,
      }),
      permissions: "0644",
    },
    {
      path: "/etc/systemd/timesyncd.conf.d/10-xiopro.conf",
      content: `# Rendered by xiopro-infra.\n[Time]\nNTP=${plan.timeSync.servers.join(" ")}\n`,
      permissions: "0644",
    },
    { path: etcFile("node.env"), content: nodeEnv(plan, node), permissions: "0644" },
    { path: LAYOUT_ENV_FILE, content: layoutEnv(), permissions: "0644" },
  ];
  // The generated files the node's services name, in catalog order, each once.
  const names = new Set(node.services.flatMap((s) => SERVICE_CATALOG[s.name]?.configs ?? []));
  for (const name of names) files.push(...GENERATED[name](plan, node));
  for (const s of node.services) {
    const env = Object.entries(s.additions.env ?? {});
    if (env.length > 0)
      files.push({ path: etcFile(`${s.name}.env`), content: serviceEnv(s.name, env), permissions: "0644" });
  }
  return files;
}

/** Base64 in 76-column lines (cloud-init's decoder skips the newlines); keeps YAML lines short. */
function wrap76(b64: string): string {
  return b64.replace(/.{1,76}/g, "$&\n");
}

/**
 * The copy of a file that ships in a bundle: scripts and units without comment-only lines and
 * blank lines (outside here-documents), which keeps user-data under Hetzner's 32 KiB. The
 * commented sources stay in the repository and `npm run plan -- --out` shows them; the VM proof
 * boots the shipped copies.
 */
export function shipped(f: WriteFile): WriteFile {
  const script = f.content.startsWith("#!") && !f.content.startsWith("#!/usr/sbin/nft");
  const unit = f.path.startsWith("/etc/systemd/system/");
  if (!script && !unit) return f;
  const out: string[] = [];
  let heredoc: string | undefined;
  f.content.split("\n").forEach((line, i) => {
    if (heredoc !== undefined) {
      out.push(line);
      if (line.trim() === heredoc) heredoc = undefined;
      return;
    }
    if (i === 0 && script) {
      out.push(line, `# Shipped without comments by xiopro-infra; the commented source is in the repository.`);
      return;
    }
    // shellcheck directives stay: the shipped copies are what the tests lint.
    if (/^\s*$/.test(line) || (script ? /^\s*#(?!\s*shellcheck )/ : /^\s*[#;]/).test(line)) return;
    const start = script ? /<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?/.exec(line.replace(/<<</g, "")) : null;
    if (start) heredoc = start[1];
    out.push(line);
  });
  return { ...f, content: `${out.join("\n")}\n` };
}

export function tarGz(files: WriteFile[]): Buffer {
  return gzipSync(
    tar(
      files
        .map((f) => shipped(f))
        .map((f) => ({ path: f.path.slice(1), mode: parseInt(f.permissions, 8), content: f.content })),
    ),
    { level: 9 },
  );
}

/** Where the bundle of units and scripts lands before bootstrap unpacks it. */
export const BUNDLE_PATH = `${NODE_LAYOUT.XIOPRO_HOME}/bundle.tar.gz`;

/** All of a node's files as one base64 tar.gz: what an in-place update pushes over the admin path. */
export function configBundle(plan: Plan, node: NodePlan): string {
  return tarGz(nodeFiles(plan, node)).toString("base64");
}

/** Every file the node gets, in a fixed order. */
export function nodeFiles(plan: Plan, node: NodePlan): WriteFile[] {
  const own = serviceFiles(plan, node);
  const isUnit = (f: WriteFile) => f.path.startsWith(UNIT_DIR);
  // Units beside units and scripts beside scripts: gzip finds more to share (user-data is capped).
  return [
    ...configFiles(plan, node),
    ...own.filter(isUnit),
    ...platformUnits(plan, node),
    ...hostScripts(node),
    ...own.filter((f) => !isUnit(f)),
  ];
}

/**
 * The user-data. Files that must precede package installation are plain `write_files` entries;
 * everything else (configs, units, scripts) travels as one deterministic tar.gz that bootstrap
 * unpacks, which keeps every node far below Hetzner's 32 KiB. `npm run plan -- --out DIR` writes
 * the unpacked tree for review.
 */
export function renderUserData(plan: Plan, node: NodePlan, facts: RenderFacts): string {
  const all = nodeFiles(plan, node);
  const bundle = tarGz(all.filter((f) => !f.early));
  const join: WriteFile[] =
    plan.adminPath.mode === "tailscale" && facts.tailscaleAuthKey
      ? [{ path: TAILSCALE_KEY_PATH, content: facts.tailscaleAuthKey, permissions: "0600", early: true }]
      : [];
  const files: WriteFile[] = [
    ...all.filter((f) => f.early),
    ...join,
    ...volumesFile(node, facts),
    { path: POLICY_RC_D, content: NO_SERVICE_STARTS, permissions: "0755", early: true },
    { path: BUNDLE_PATH, content: wrap76(bundle.toString("base64")), permissions: "0600", encoding: "b64" },
  ];
  const doc = {
    hostname: node.name,
    fqdn: node.fqdn,
    prefer_fqdn_over_hostname: false,
    users: [
      {
        name: ADMIN_USER,
        gecos: "xiopro operator",
        groups: ["sudo", "adm", "systemd-journal"],
        shell: "/bin/bash",
        sudo: "ALL=(ALL) NOPASSWD:ALL",
        lock_passwd: true,
        ssh_authorized_keys: plan.sshKeys.map((k) => k.publicKey),
      },
    ],
    disable_root: true,
    ssh_pwauth: false,
    ssh_deletekeys: true,
    ssh_genkeytypes: ["ed25519"],
    timezone: "Etc/UTC",
    apt: { conf: APT_CONF },
    package_update: true,
    package_upgrade: false,
    packages: packagesFor(plan, node),
    write_files: files.map((f) => ({
      path: f.path,
      permissions: f.permissions,
      ...(f.owner ? { owner: f.owner } : {}),
      ...(f.encoding ? { encoding: f.encoding } : {}),
      content: f.content,
    })),
    runcmd: [
      ["rm", "-f", POLICY_RC_D],
      ["sh", "-c", `tar -xzf ${BUNDLE_PATH} -C / && exec ${libFile("bootstrap")}`],
    ],
    final_message: `xiopro ${node.name} ready after $UPTIME s`,
  };
  const text = `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
  if (Buffer.byteLength(text) > USER_DATA_LIMIT) {
    const growers = configGrowth(plan, node)
      .filter(([, bytes]) => bytes > 0)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([key, bytes]) => `xiopro-infra:${key} (${bytes} bytes)`);
    throw new Error(
      `user-data of ${node.name} is ${Buffer.byteLength(text)} bytes (Hetzner's limit is ${USER_DATA_LIMIT}); the config values that make it grow most: ${growers.join(", ") || "none (the product's own files)"}: shorten them`,
    );
  }
  return text;
}

/** Bytes each free-size config value adds to a node's user-data (before compression, roughly). */
function configGrowth(plan: Plan, node: NodePlan): [string, number][] {
  const size = (v: unknown) => (v === undefined ? 0 : Buffer.byteLength(typeof v === "string" ? v : JSON.stringify(v)));
  return [
    ["ingress.acmeCaRoot", size(plan.ingress.acmeCaRoot)],
    ["sshPublicKeys", size(plan.sshKeys.map((k) => k.publicKey))],
    ["agentd.environment", size(plan.agentd.environment)],
    ["ingress.sites", size(node.sites)],
    [`${node.key}.services`, size(node.services.filter((s) => s.custom))],
  ];
}
