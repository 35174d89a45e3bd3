// Every stack config key, once: type, description, default. Pulumi.yaml's `config:` block and
// docs/config.md are generated from this table (`npm run gen:config-docs`), and a test keeps them in step.
import { DEFAULT_IMAGE } from "../catalog/images.js";
import { EXPOSURE_CLASSES, SERVICE_CATALOG, type ServiceSpec } from "../catalog/services.js";
import type { z } from "zod";
import { arr, bool, either, int, obj, optional, record, show, str } from "../catalog/schema.js";
import { NODE_LAYOUT } from "../catalog/layout.js";
import { ROLE_NAMES } from "../catalog/roles.js";

export const PROJECT = "xiopro-infra";

/** Caddy orders from Let's Encrypt unless ingress.acmeDirectory names another ACME CA. */
export const LETS_ENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory";
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const CIDR4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const NAME = /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[a-zA-Z0-9]([-_.a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$/;
const LABEL_VALUE = /^([a-zA-Z0-9]([-_.a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)?$/;
const SSH_KEY =
  /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]{32,}( .*)?$/;

/** Where a backup repository is and how it is reached: both repositories (backup.repository, backup.offsite). */
const repositoryFields = {
  kind: str({
    description:
      "s3 (Hetzner Object Storage or another S3-compatible store), sftp (a Storage Box or another SFTP server) or posix (a local path: tests only)",
    oneOf: ["s3", "sftp", "posix"] as const,
    default: "s3",
  }),
  endpoint: optional(
    str({
      description: "S3 endpoint URL (s3)",
      pattern: /^https:\/\/[a-z0-9.-]+(:\d+)?$/,
      patternHint: "write an https URL such as https://fsn1.your-objectstorage.com",
    }),
  ),
  region: optional(
    str({
      description: "S3 region (s3)",
      pattern: /^[a-z0-9][a-z0-9-]{0,31}$/,
      patternHint: "write a region name such as fsn1",
    }),
  ),
  bucket: optional(
    str({
      description: "S3 bucket (s3)",
      pattern: /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
      patternHint: "use 3-63 lower-case letters, digits, dots and dashes",
    }),
  ),
  host: optional(str({ description: "SFTP host (sftp)", pattern: HOSTNAME, patternHint: "write a host name" })),
  user: optional(
    str({
      description: "SFTP user (sftp)",
      pattern: /^[a-z0-9][a-z0-9_-]{0,31}$/,
      patternHint: "write a user name such as u123456-sub1",
    }),
  ),
  port: int({
    description: "SFTP port (sftp): a Storage Box takes keys on 23 (22 reads only RFC 4716 keys)",
    min: 1,
    max: 65535,
    default: 23,
  }),
  path: str({
    description: "Path prefix inside the repository (posix: absolute directory)",
    pattern: /^(\/[A-Za-z0-9._-]+)+$|^\/$/,
    patternHint: "write an absolute path of letters, digits and . _ - such as /xiopro",
    default: "/xiopro",
  }),
};

const interfaceSpec = obj(
  {
    port: int({ description: "Port number", min: 1, max: 65535 }),
    protocol: str({ description: "Transport protocol", oneOf: ["tcp", "udp"] as const, default: "tcp" }),
    class: str({
      description: "Exposure class: A public, B overlay, C private network, D localhost",
      oneOf: EXPOSURE_CLASSES,
    }),
    owner: str({
      description: "Who answers for this interface (team or person)",
      pattern: /\S/,
      patternHint: "name an owner",
    }),
    justification: str({
      description: "Why this interface must exist",
      pattern: /\S{3,}/,
      patternHint: "write a sentence saying why it must exist",
    }),
    access: optional(str({ description: "How it is reached (defaults from the class)" })),
    clients: optional(
      arr(
        str({
          description: "A service (catalog or custom) whose nodes may connect",
          pattern: NAME,
          patternHint: "use lower-case letters, digits and dashes",
        }),
        {
          description:
            "Class C only, and required there: the services whose nodes may connect over the private network (the host firewall admits exactly their nodes)",
        },
      ),
    ),
  },
  { description: "A listening interface of a custom service" },
);

const customServiceSpec = obj(
  {
    name: str({ description: "Service name", pattern: NAME, patternHint: "use lower-case letters, digits and dashes" }),
    interfaces: arr(interfaceSpec, { description: "Listening interfaces", default: [] }),
  },
  { description: "A custom service" },
);
export type CustomService = z.output<typeof customServiceSpec>;
export type InterfaceConfig = z.output<typeof interfaceSpec>;

/** A service entry: the name of a catalog service, or a custom service with its interfaces. */
const serviceEntry = either(
  str({ description: "Catalog service name", pattern: NAME, patternHint: "use lower-case letters, digits and dashes" }),
  customServiceSpec,
  {
    description: "A catalog service name (see docs/services.md) or {name, interfaces} for a custom service",
    typeName: "string | {name, interfaces}",
    wrong: (v) => `expected a service name or a mapping, got ${show(v)}`,
    fix: "write a catalog service name, or {name, interfaces: [...]}",
  },
);

const volumeSpec = obj(
  {
    name: str({
      description: "Volume name (unique per node)",
      pattern: NAME,
      patternHint: "use 2-32 lower-case letters, digits and dashes, starting with a letter",
    }),
    sizeGb: int({ description: "Size in GB (Hetzner: 10 to 10240)", unit: "GB" }),
    mountPoint: str({
      description: "Absolute mount point",
      pattern: /^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/,
      patternHint: `use an absolute path such as ${NODE_LAYOUT.XIOPRO_PG_VOLUME}`,
    }),
    filesystem: str({
      description: "Filesystem Hetzner formats the volume with",
      oneOf: ["ext4", "xfs"] as const,
      default: "ext4",
    }),
    attachTimeoutSeconds: int({
      description: "How long first boot waits for Hetzner to attach the volume before it fails naming it",
      min: 30,
      max: 3600,
      unit: "seconds",
      default: 300,
    }),
    protect: optional(
      bool({
        description: "Delete protection and Pulumi protect for this volume (default: the stack's protection settings)",
      }),
    ),
  },
  { description: "A Hetzner Volume" },
);
export type VolumeConfig = z.output<typeof volumeSpec>;

/** What every server of the stack is configured by: a lettered node's fields, and each pool's. */
function serverFields(services: string[]) {
  return {
    serverType: optional(
      str({ description: "Hetzner server type, e.g. cpx42 (see infra/catalog/hetzner-prices.json)" }),
    ),
    image: str({
      description: "OS image: debian-13 (booted by the VM proof), debian-12 or ubuntu-24.04 (infra/catalog/images.ts)",
      default: DEFAULT_IMAGE,
    }),
    baked: bool({
      description:
        "Create the server from the newest snapshot `npm run bake` made of this node's image and packages, so first boot installs none; a running server keeps its image (docs/bake.md)",
      default: false,
    }),
    location: optional(str({ description: "Hetzner location (default: the stack's location)" })),
    publicIpv4: bool({
      description:
        "Give the node a public IPv4 primary IP (false: IPv6 only, no IPv4 billed; no site on it, and every endpoint it calls needs IPv6: docs/ipv6-only.md)",
      default: true,
    }),
    publicIpv6: bool({ description: "Give the node a public IPv6 primary IP", default: true }),
    backups: bool({ description: "Hetzner server backups (+20 % of the server price)", default: false }),
    labels: record(
      str({
        description: "Label value",
        pattern: LABEL_VALUE,
        patternHint: "use up to 63 letters, digits, '-', '_' or '.'",
      }),
      {
        description: "Extra Hetzner labels (env, node, role and managed-by are set by the toolkit)",
        default: {},
        keyPattern: LABEL_KEY,
        keyHint: "use up to 63 letters, digits, '-', '_' or '.', optionally with a dns-prefix/",
      },
    ),
    volumes: arr(volumeSpec, { description: "Hetzner Volumes attached to this node", default: [] }),
    services: arr(serviceEntry, {
      description: "Services this node runs (sshd and node-exporter are always present)",
      default: services,
    }),
  };
}

const PRIVATE_IP = str({
  description: "Private network IPv4 (default: allocated deterministically from the subnet)",
  pattern: IPV4,
  patternHint: "write an IPv4 address such as 10.0.1.10",
});

function nodeSpec(letter: "A" | "C" | "D", enabledDefault: boolean, services: string[]) {
  const { serverType, image, baked, location, ...rest } = serverFields(services);
  return obj(
    {
      enabled: bool({ description: `Whether Node ${letter} exists`, default: enabledDefault }),
      serverType,
      image,
      baked,
      location,
      privateIp: optional(PRIVATE_IP),
      ...rest,
    },
    {
      description:
        letter === "A"
          ? "Node A: the always-on control node (ingress, API, agent runtime, PostgreSQL, backups, telemetry)"
          : letter === "C"
            ? "Node C: optional heavy-compute / model node"
            : "Node D: optional product-runtime node, isolated from the control plane",
      default: letter === "A" ? undefined : ({ enabled: false } as never),
    },
  );
}

const poolSpec = obj(
  {
    name: str({
      description: "Pool name: its servers are <environment>-<name>-1, -2, …",
      pattern: NAME,
      patternHint: "use 2-32 lower-case letters, digits and dashes, starting with a letter",
    }),
    role: str({ description: "What the pool's servers are for (infra/catalog/roles.ts)", oneOf: ROLE_NAMES }),
    count: int({ description: "How many servers the pool has", min: 1, max: 10 }),
    firstPrivateIp: str({
      description:
        "Private IPv4 of the first server; the others take the next addresses. Fixed, so that adding a node or a pool never moves another's address (a moved address replaces the server)",
      pattern: IPV4,
      patternHint: "write an IPv4 address such as 10.0.1.30",
    }),
    ...serverFields([]),
  },
  { description: "A pool: count servers alike, with one role" },
);
export type PoolConfig = z.output<typeof poolSpec>;

export const NODE_A_DEFAULT_SERVICES = [
  "ingress",
  "agentd-web",
  "agentd-worker",
  "agentd-sweeper",
  "postgresql",
  "postgres-exporter",
  "backup",
  "monitoring",
  "grafana",
];

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** The config table: one entry per `xiopro-infra:<key>`. */
const PLATFORM_SETTINGS = {
  environment: str({ description: "Environment name: prd, tst or dev", oneOf: ["prd", "tst", "dev"] as const }),
  location: str({
    description: "Default Hetzner location for nodes and volumes (fsn1, nbg1, hel1, ash, hil, sin)",
    default: "fsn1",
  }),
  networkZone: optional(
    str({ description: "Hetzner network zone; derived from the location when unset (must match it when set)" }),
  ),
  network: obj(
    {
      cidr: str({
        description: "Private network range (RFC 1918)",
        pattern: CIDR4,
        patternHint: "write an IPv4 CIDR such as 10.0.0.0/16",
        default: "10.0.0.0/16",
      }),
      subnet: str({
        description: "Cloud subnet inside the network for the nodes",
        pattern: CIDR4,
        patternHint: "write an IPv4 CIDR such as 10.0.1.0/24",
        default: "10.0.1.0/24",
      }),
    },
    { description: "Private network and its subnet", default: { cidr: "10.0.0.0/16", subnet: "10.0.1.0/24" } },
  ),
  domain: str({
    description: "DNS zone for the stack, e.g. xiopro.example; public hostnames must lie inside it",
    pattern: HOSTNAME,
    patternHint: "write a lower-case domain name such as xiopro.example",
  }),
  dns: obj(
    {
      mode: str({
        description:
          "create: the stack creates and owns the Hetzner DNS zone; adopt: use an existing zone of that name",
        oneOf: ["create", "adopt"] as const,
        default: "create",
      }),
      ttl: int({ description: "TTL of the records in seconds", min: 60, max: 86400, default: 300, unit: "seconds" }),
    },
    { description: "Hetzner DNS zone handling", default: { mode: "create", ttl: 300 } },
  ),
  ingress: obj(
    {
      tls: str({
        description:
          "acme: public certificates (Let's Encrypt); internal: Caddy's own CA for closed networks and tests",
        oneOf: ["acme", "internal"] as const,
        default: "acme",
      }),
      acmeEmail: optional(
        str({
          description: "Contact e-mail for ACME (required with tls: acme)",
          pattern: /^[A-Za-z0-9._+-]+@[a-z0-9-]+(\.[a-z0-9-]+)+$/,
          patternHint: "write a plain e-mail address (no braces or quotes: it lands in the Caddyfile)",
        }),
      ),
      acmeDirectory: str({
        description:
          "ACME directory URL Caddy orders certificates from (tls: acme); another CA, or a test CA such as Pebble",
        pattern: /^https:\/\/[a-z0-9.-]+(:\d+)?(\/[A-Za-z0-9._~\/-]*)?$/,
        patternHint: "write an https:// URL such as https://acme-v02.api.letsencrypt.org/directory",
        default: LETS_ENCRYPT_DIRECTORY,
      }),
      acmeCaRoot: optional(
        str({
          description:
            "PEM root certificate Caddy trusts for the ACME directory's own HTTPS, when the system trust store does not have it (tls: acme; public, not a secret)",
        }),
      ),
      sites: arr(
        obj(
          {
            hostname: str({
              description: "Public hostname inside the domain",
              pattern: HOSTNAME,
              patternHint: "write a lower-case host name such as app.xiopro.example",
            }),
            service: str({
              description: "The service behind it (must have a localhost interface)",
              pattern: NAME,
              patternHint: "name a service such as agentd-web",
            }),
          },
          { description: "A public site" },
        ),
        { description: "Public sites served by Caddy: hostname → service", default: [] },
      ),
    },
    {
      description: "Caddy ingress: TLS mode and the public sites",
      default: { tls: "acme", acmeDirectory: LETS_ENCRYPT_DIRECTORY, sites: [] },
    },
  ),
  adminPath: obj(
    {
      mode: str({
        description: "tailscale: SSH only over the tailnet (class B); allowlist: SSH from the listed CIDRs only",
        oneOf: ["tailscale", "allowlist"] as const,
        default: "tailscale",
      }),
      sshAllowlist: arr(
        str({ description: "CIDR (IPv4 or IPv6, canonical network address: parsed in infra/config/cidr.ts)" }),
        {
          description:
            "CIDRs allowed to reach SSH through the cloud and host firewalls (the emergency list in tailscale mode; required in allowlist mode)",
          default: [],
        },
      ),
      confirmSeconds: int({
        description:
          "An in-place configuration change is reverted unless confirmed over a new admin-path connection within this bound (xiopro-guard)",
        min: 30,
        max: 1800,
        default: 120,
      }),
    },
    {
      description: "The admin path (docs/architecture.md D4)",
      default: { mode: "tailscale", sshAllowlist: [], confirmSeconds: 120 },
    },
  ),
  protection: obj(
    {
      deleteProtection: bool({
        description: "Hetzner delete/rebuild protection on servers, volumes, primary IPs and the zone",
        default: true,
      }),
      pulumiProtect: bool({ description: "Pulumi `protect` on volumes, primary IPs and the zone", default: true }),
    },
    {
      description: "Protection of stateful resources; explicit per stack",
      default: { deleteProtection: true, pulumiProtect: true },
    },
  ),
  acceptedRisks: arr(
    str({
      description: "A production risk accepted on purpose",
      oneOf: ["prd-without-backups", "prd-without-protection"] as const,
    }),
    {
      description:
        "Production policy exceptions, each named on purpose: prd-without-backups (a prd database with no backup service), prd-without-protection (prd with deleteProtection or pulumiProtect off)",
      default: [],
    },
  ),
  maintenance: obj(
    {
      autoReboot: bool({
        description: "Reboot automatically when a security update needs it (kernel, libc)",
        default: false,
      }),
      rebootTime: str({
        description: "Time of day (UTC, HH:MM) for such a reboot",
        pattern: /^([01]\d|2[0-3]):[0-5]\d$/,
        patternHint: "write HH:MM, e.g. 04:00",
        default: "04:00",
      }),
      poolRebootSpacingMinutes: int({
        description:
          "A pool's members reboot one after another: member n at rebootTime + (n - 1) × this, so a pool behind the load balancer never loses all of its servers at once",
        min: 5,
        max: 240,
        unit: "minutes",
        default: 30,
      }),
    },
    {
      description: "Unattended security upgrades: never a surprise reboot unless a window is set",
      default: { autoReboot: false, rebootTime: "04:00", poolRebootSpacingMinutes: 30 },
    },
  ),
  timeSync: obj(
    {
      servers: arr(
        str({
          description: "NTP server host name or address",
          pattern: /^[A-Za-z0-9.:-]+$/,
          patternHint: "write a host name or IP address",
        }),
        {
          description: "NTP servers for systemd-timesyncd",
          default: ["ntp1.hetzner.de", "ntp2.hetzner.com", "ntp3.hetzner.net"],
          minItems: 1,
        },
      ),
    },
    {
      description: "Time synchronisation (Hetzner's NTP servers by default)",
      default: { servers: ["ntp1.hetzner.de", "ntp2.hetzner.com", "ntp3.hetzner.net"] },
    },
  ),
  userDataChange: str({
    description:
      "How a user-data change reaches a server: replace (new server; volumes, IPs and DNS survive) or in-place (the change is ignored by Pulumi and applied over the admin path)",
    oneOf: ["replace", "in-place"] as const,
    default: "replace",
  }),
  sshPublicKeys: arr(
    str({
      description: "OpenSSH public key",
      pattern: SSH_KEY,
      patternHint: "paste one OpenSSH public key line, e.g. 'ssh-ed25519 AAAA... you@host'",
    }),
    {
      description: "Public keys of the admin user (and Hetzner SSH keys, so no root password is ever mailed)",
      minItems: 1,
    },
  ),
  nodeA: nodeSpec("A", true, NODE_A_DEFAULT_SERVICES),
  nodeB: obj(
    {
      tailscaleName: optional(
        str({
          description: "Tailscale machine name of the operator workstation",
          pattern: /^[a-z0-9][a-z0-9-]{0,62}$/,
          patternHint: "write the tailnet machine name",
        }),
      ),
    },
    {
      description:
        "Node B: the operator workstation, an external tailnet peer; never provisioned and never a dependency",
      default: {},
    },
  ),
  nodeC: nodeSpec("C", false, []),
  nodeD: nodeSpec("D", false, []),
  pools: arr(poolSpec, {
    description:
      "Pools of servers beside Nodes A, C and D: each with a role, a count, its server type, volumes and services (docs/pools.md)",
    default: [],
  }),
  loadBalancer: optional(
    obj(
      {
        type: str({
          description: "Hetzner load balancer type, priced per location in the catalog",
          pattern: /^lb\d{2}$/,
          patternHint: "write a type such as lb11",
        }),
        privateIp: str({
          description:
            "The balancer's private IPv4, fixed: the only private address the fronted nodes' HTTP port admits",
          pattern: IPV4,
          patternHint: "write an IPv4 address such as 10.0.1.5",
        }),
        targets: arr(
          str({
            description: "A pool's name, or nodeA, nodeC or nodeD",
            pattern: /^[a-zA-Z][a-zA-Z0-9-]{0,31}$/,
            patternHint: "name a pool, or nodeA, nodeC or nodeD",
          }),
          {
            description:
              "The servers it fronts, by pool or node: every site whose service runs on them is served through it",
            minItems: 1,
          },
        ),
        algorithm: str({
          description: "How requests are spread over the targets",
          oneOf: ["round_robin", "least_connections"] as const,
          default: "round_robin",
        }),
        healthCheck: obj(
          {
            path: str({
              description: "Path requested from each target with the first fronted site as Host; 2xx or 3xx is healthy",
              pattern: /^\/[A-Za-z0-9._~\/?=&%-]*$/,
              patternHint: "write a path starting with /, such as /healthz",
              default: "/",
            }),
            intervalSeconds: int({
              description: "Seconds between checks",
              min: 3,
              max: 60,
              default: 15,
              unit: "seconds",
            }),
            timeoutSeconds: int({
              description: "Seconds a check may take (less than the interval)",
              min: 1,
              max: 60,
              default: 10,
              unit: "seconds",
            }),
            retries: int({ description: "Failed checks before a target is taken out", min: 0, max: 5, default: 3 }),
          },
          {
            description: "The balancer's HTTP health check of each target",
            default: { path: "/", intervalSeconds: 15, timeoutSeconds: 10, retries: 3 },
          },
        ),
      },
      {
        description:
          "A Hetzner load balancer in front of pools or nodes: it terminates TLS for their sites (a managed certificate) and reaches them over the private network (docs/load-balancer.md)",
      },
    ),
  ),
  egress: obj(
    {
      allowlistRoles: arr(str({ description: "A role (infra/catalog/roles.ts)", oneOf: ROLE_NAMES }), {
        description:
          "Roles whose nodes may open connections only to what they need (docs/egress.md); the others' outbound traffic stays open",
        default: [],
      }),
      allow: arr(
        obj(
          {
            host: str({
              description: "Host name or IP address",
              pattern: /^[A-Za-z0-9.:-]+$/,
              patternHint: "write a host name such as api.openrouter.ai, or an IP address",
            }),
            protocol: str({ description: "Transport protocol", oneOf: ["tcp", "udp"] as const, default: "tcp" }),
            ports: arr(int({ description: "Port", min: 1, max: 65535 }), { description: "Ports", minItems: 1 }),
            why: str({
              description: "Why the nodes must reach it",
              pattern: /\S{3,}/,
              patternHint: "write a sentence saying why",
            }),
            roles: optional(
              arr(str({ description: "A role", oneOf: ROLE_NAMES }), {
                description: "Only these allowlisted roles (default: all of them)",
                minItems: 1,
              }),
            ),
          },
          { description: "A destination beyond what the nodes' services need (a model provider's API)" },
        ),
        { description: "Destinations the operator adds, such as the agents' provider APIs", default: [] },
      ),
    },
    {
      description:
        "Outbound allowlist per role, off by default: non-root processes of those roles' nodes reach only their services' destinations and these",
      default: { allowlistRoles: [], allow: [] },
    },
  ),
  backup: obj(
    {
      repository: obj(
        {
          ...repositoryFields,
          createStorageBox: optional(
            obj(
              {
                type: str({
                  description: "Storage Box type (bx11: 1 TB, bx21: 5 TB, ...)",
                  pattern: /^bx\d{2}$/,
                  patternHint: "write a type such as bx11",
                  default: "bx11",
                }),
                location: optional(str({ description: "Storage Box location (default: the stack's location)" })),
              },
              {
                description:
                  "sftp: the stack creates a Hetzner Storage Box and a sub-account whose home directory is path; host and user come from them (leave both unset)",
              },
            ),
          ),
        },
        {
          description: "Off-host backup repository in the Hetzner account (repo1)",
          default: { kind: "s3", path: "/xiopro", port: 23 },
        },
      ),
      offsite: optional(
        obj(repositoryFields, {
          description:
            "Second repository (repo2), at a provider outside Hetzner: backups that survive losing the Hetzner account. pgBackRest archives WAL to both and backs up to each; restic backs up to each",
        }),
      ),
      archiveTimeoutSeconds: int({
        description:
          "PostgreSQL archive_timeout: the most WAL time a crash can lose. 1 s measured a worst case of ~1 s lost (npm run bench:recovery) for ~60 archived files a minute",
        min: 1,
        max: 60,
        default: 1,
        unit: "seconds",
      }),
      archiveQueueMaxPercent: int({
        description:
          "Share of the database's volume that WAL waiting for an unreachable repository may fill. Beyond it pgBackRest drops that WAL (WalArchiveDropped; no point-in-time recovery across the gap, a full backup follows once the repository answers) instead of PostgreSQL stopping on a full disk",
        min: 5,
        max: 60,
        default: 25,
        unit: "percent",
      }),
      drillBoundMinutes: int({
        description:
          "Time a restore drill may take (both restores, checks and dumps); a longer one raises RestoreDrillOverBound. Below the unit's hard stop of 2 h, so an overrun is still recorded",
        min: 5,
        max: 100,
        default: 60,
        unit: "minutes",
      }),
      retention: obj(
        {
          daily: int({ description: "Daily snapshots kept", min: 1, max: 366, default: 14 }),
          weekly: int({ description: "Weekly snapshots kept", min: 0, max: 520, default: 8 }),
          monthly: int({ description: "Monthly snapshots kept", min: 0, max: 240, default: 12 }),
        },
        {
          description: "Retention (docs/architecture.md, seed 000 §10.4)",
          default: { daily: 14, weekly: 8, monthly: 12 },
        },
      ),
    },
    {
      description: "Backup repository, WAL archiving and retention",
      default: {
        repository: { kind: "s3", path: "/xiopro", port: 23 },
        archiveTimeoutSeconds: 1,
        archiveQueueMaxPercent: 25,
        drillBoundMinutes: 60,
        retention: { daily: 14, weekly: 8, monthly: 12 },
      },
    },
  ),
  monitoring: obj(
    {
      retentionDays: int({
        description: "Prometheus keeps this many days of metrics (on the node's root disk)",
        min: 1,
        max: 400,
        default: 30,
        unit: "days",
      }),
      retentionSizeGb: int({
        description: "Prometheus deletes the oldest blocks above this size",
        min: 1,
        max: 1000,
        default: 10,
        unit: "GB",
      }),
      email: optional(
        obj(
          {
            to: arr(str({ description: "Recipient", pattern: EMAIL, patternHint: "write an e-mail address" }), {
              description: "Recipients of warning and critical alerts",
              minItems: 1,
            }),
            from: str({ description: "Sender address", pattern: EMAIL, patternHint: "write an e-mail address" }),
            smarthost: str({
              description: "SMTP server host:port (STARTTLS is required)",
              pattern: /^[a-z0-9.-]+:\d{1,5}$/,
              patternHint: "write host:port such as smtp.example.com:587",
            }),
            username: optional(str({ description: "SMTP user; its password is the secret alertSmtpPassword" })),
          },
          { description: "Alert e-mail through an SMTP relay" },
        ),
      ),
      webhook: optional(
        obj(
          {
            url: str({
              description:
                "HTTPS endpoint that receives Alertmanager's JSON; put no secret in it (the bearer token is the secret alertWebhookToken)",
              pattern: /^https:\/\/[^\s?#]+$/,
              patternHint: "write an https:// URL without a query string",
            }),
            minSeverity: str({
              description: "Least severe alert sent to the webhook",
              oneOf: ["info", "warning", "critical"] as const,
              default: "warning",
            }),
          },
          { description: "Alert webhook (chat or pager bridge)" },
        ),
      ),
    },
    {
      description:
        "Prometheus, Alertmanager and Grafana (the node that lists the monitoring service) and alert delivery",
      default: { retentionDays: 30, retentionSizeGb: 10 },
    },
  ),
  agentd: obj(
    {
      workers: int({ description: "Number of agentd-worker@ instances", min: 0, max: 32, default: 2 }),
      user: str({
        description: "System user the agent runtime runs as",
        pattern: /^[a-z_][a-z0-9_-]{0,31}$/,
        patternHint: "write a Unix user name",
        default: "agentd",
      }),
      webCommand: str({
        description: "ExecStart of agentd-web, relative to the current release directory",
        default: "bin/agentd web",
      }),
      workerCommand: str({
        description: "ExecStart of agentd-worker@, relative to the current release directory",
        default: "bin/agentd worker",
      }),
      sweeperCommand: str({
        description: "ExecStart of agentd-sweeper, relative to the current release directory",
        default: "bin/agentd sweep",
      }),
      environment: record(str({ description: "Value (no secrets: use the secret inventory)" }), {
        description: "Plain environment for all agentd units",
        default: {},
        keyPattern: /^[A-Z_][A-Z0-9_]*$/,
        keyHint: "use UPPER_SNAKE_CASE names",
      }),
      release: obj(
        {
          healthPath: str({
            description:
              "HTTP path of agentd-web's health endpoint on its local upstream: a deploy is healthy once it answers 200",
            pattern: /^\/[A-Za-z0-9._~\/-]*$/,
            patternHint: "write an absolute URL path such as /healthz",
            default: "/healthz",
          }),
          timeoutSeconds: int({
            description: "How long a deploy waits for the health endpoint and the workers before it rolls back",
            min: 5,
            max: 900,
            default: 60,
          }),
          settleSeconds: int({
            description: "How long every worker must stay running, without a restart, to count as ready",
            min: 0,
            max: 300,
            default: 10,
          }),
          keep: int({
            description: "Releases kept on the node (the current one included)",
            min: 2,
            max: 50,
            default: 5,
          }),
        },
        {
          description: "Health-gated releases (agentd-release deploy; docs/releases.md)",
          default: { healthPath: "/healthz", timeoutSeconds: 60, settleSeconds: 10, keep: 5 },
        },
      ),
    },
    {
      description: "The agent runtime (docs/architecture.md, seed 001 §3)",
      default: {
        workers: 2,
        user: "agentd",
        webCommand: "bin/agentd web",
        workerCommand: "bin/agentd worker",
        sweeperCommand: "bin/agentd sweep",
        environment: {},
        release: { healthPath: "/healthz", timeoutSeconds: 60, settleSeconds: 10, keep: 5 },
      },
    },
  ),
} satisfies Record<string, z.ZodType>;

// Secrets: only ever set with `pulumi config set --secret`; which ones a stack needs follows from
// its services and backup repository (infra/config/secrets.ts). docs/secrets.md has the runbook.
const SECRET_KEYS = {
  resticPassword: optional(str({ description: "restic repository password (backup service)", secret: true })),
  pgbackrestCipherPass: optional(
    str({ description: "pgBackRest repository encryption passphrase (backup service with PostgreSQL)", secret: true }),
  ),
  backupS3AccessKey: optional(
    str({ description: "Object Storage access key of the backup bucket (repository kind s3)", secret: true }),
  ),
  backupS3SecretKey: optional(
    str({ description: "Object Storage secret key of the backup bucket (repository kind s3)", secret: true }),
  ),
  backupSftpPrivateKey: optional(
    str({ description: "SSH private key of the Storage Box sub-account (repository kind sftp)", secret: true }),
  ),
  backupOffsiteS3AccessKey: optional(
    str({ description: "Access key of the off-site bucket (backup.offsite kind s3)", secret: true }),
  ),
  backupOffsiteS3SecretKey: optional(
    str({ description: "Secret key of the off-site bucket (backup.offsite kind s3)", secret: true }),
  ),
  backupOffsiteSftpPrivateKey: optional(
    str({ description: "SSH private key of the off-site SFTP account (backup.offsite kind sftp)", secret: true }),
  ),
  tailscaleAuthKey: optional(
    str({
      description:
        "Single-use, short-lived Tailscale auth key used once at first boot (admin path tailscale; the only user-data exception of docs/architecture.md D3)",
      secret: true,
    }),
  ),
  adminSshPrivateKey: optional(
    str({
      description: "Private key of the admin user that Pulumi uses to deliver credentials over the admin path",
      secret: true,
    }),
  ),
  alertSmtpPassword: optional(
    str({ description: "Password of monitoring.email.username at the SMTP relay (Alertmanager)", secret: true }),
  ),
  alertWebhookToken: optional(
    str({ description: "Bearer token Alertmanager sends to monitoring.webhook.url", secret: true }),
  ),
  ciRunnerToken: optional(
    str({
      description:
        "GitHub token that may register self-hosted runners for ci-runner's repository or organization (read by the registration unit only)",
      secret: true,
    }),
  ),
  providerKeys: optional(
    record(str({ description: "Secret value" }), {
      description:
        "Model-provider and tool API keys for agentd workers: ENV_NAME → value, exposed as environment variables",
      keyPattern: /^[A-Z][A-Z0-9_]*$/,
      keyHint: "use UPPER_SNAKE_CASE names such as OPENROUTER_API_KEY",
      secret: true,
    }),
  ),
  webSecrets: optional(
    record(str({ description: "Secret value" }), {
      description: "Secrets of agentd-web (e.g. SESSION_SECRET): ENV_NAME → value, exposed as environment variables",
      keyPattern: /^[A-Z][A-Z0-9_]*$/,
      keyHint: "use UPPER_SNAKE_CASE names such as SESSION_SECRET",
      secret: true,
    }),
  ),
} satisfies Record<string, z.ZodType>;

const SERVICE_OPTION_KEYS = serviceOptionKeys();

/**
 * Every key: the platform's settings, each service's own options (its descriptor's `options`, under
 * the service's name; typed through serviceOptions(), the static type lists the platform's keys),
 * then the secrets.
 */
export const CONFIG_KEYS = {
  ...PLATFORM_SETTINGS,
  ...(SERVICE_OPTION_KEYS as Record<never, z.ZodType>),
  ...SECRET_KEYS,
};

export type ConfigKey = keyof typeof CONFIG_KEYS;

/** The config keys of services' own options, in catalog order; a service may not take a platform key. */
function serviceOptionKeys(): Record<string, z.ZodType> {
  const out: Record<string, z.ZodType> = {};
  for (const s of Object.values(SERVICE_CATALOG)) {
    if (!s.options) continue;
    if (Object.hasOwn(PLATFORM_SETTINGS, s.name) || Object.hasOwn(SECRET_KEYS, s.name))
      throw new Error(`service ${s.name} has options, but ${s.name} is already a platform config key`);
    out[s.name] = s.options as z.ZodType;
  }
  return out;
}

/** A service's parsed options from a validated config. */
export function serviceOptions<O>(config: StackConfig, service: ServiceSpec<O>): O {
  return (config as unknown as Record<string, O>)[service.name]!;
}

export type NodeConfig = z.output<ReturnType<typeof nodeSpec>>;

/** The provisioned nodes' keys (Node B is the operator's machine, never provisioned). */
export const NODE_KEYS = ["nodeA", "nodeC", "nodeD"] as const;
export type NodeKey = (typeof NODE_KEYS)[number];
/** The whole stack config: every key of the table, as one object. */
export const STACK_CONFIG = obj(CONFIG_KEYS, { description: `Stack config of ${PROJECT}` });
export type StackConfig = z.output<typeof STACK_CONFIG>;
