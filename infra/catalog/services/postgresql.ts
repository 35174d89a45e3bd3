import { DATABASE_NAME, libFile, PG_ROLE_PREFIX } from "../layout.js";
import { bool, obj, optional, str } from "../schema.js";
import { ACCESS, PLATFORM, type CredentialSpec, type PlacedNodeView, type ServiceSpec } from "../service-spec.js";

interface PostgresqlOptions {
  pgvector: boolean;
  majorVersionChange?: string;
}

/** Images whose archive packages pgvector for their PostgreSQL (`postgresql-<major>-pgvector`). */
const PGVECTOR_PACKAGED = ["debian-13", "ubuntu-24.04"];

const ROLES_UNIT = "xiopro-postgres-roles.service";

/**
 * The platform database's roles (PG_ROLE_PREFIX and the name): what each may do there, and which units on the
 * same node log in as it. setup-postgresql creates them from this list (postgresql.env).
 */
const ROLES: {
  name: string;
  /** Owns the platform database (the application's migrations run as it). */
  owns?: true;
  connect?: true;
  /** pg_read_all_data: reads every table (dumps, read-only access). */
  readAll?: true;
  /** pg_monitor: reads the statistics views. */
  monitor?: true;
  /** `remote`: the reader may run on another node and log in over the private network. */
  readers: { service: string; unit: string; id: string; remote?: true }[];
}[] = [
  {
    name: "api",
    owns: true,
    readers: [{ service: "agentd-web", unit: "agentd-web.service", id: "DATABASE_PASSWORD", remote: true }],
  },
  {
    name: "worker",
    connect: true,
    readers: [
      { service: "agentd-worker", unit: "agentd-worker@.service", id: "DATABASE_PASSWORD", remote: true },
      { service: "agentd-sweeper", unit: "agentd-sweeper.service", id: "DATABASE_PASSWORD", remote: true },
    ],
  },
  {
    name: "backup",
    connect: true,
    readAll: true,
    monitor: true,
    readers: [{ service: "backup", unit: "xiopro-pgdump.service", id: "pg-role-backup" }],
  },
  { name: "readonly", connect: true, readAll: true, readers: [] },
];

/** The database role a unit logs in as (the role behind its DATABASE_PASSWORD credential). */
export function databaseRoleOf(unit: string): string | undefined {
  const r = ROLES.find((x) => x.readers.some((y) => y.unit === unit && y.id === "DATABASE_PASSWORD"));
  return r && `${PG_ROLE_PREFIX}${r.name}`;
}

/** A role's password on a remote reader's node: the same generated value, readable by the reader's unit. */
const remoteRoles: CredentialSpec[] = ROLES.flatMap((r) =>
  r.readers
    .filter((x) => x.remote)
    .map((x) => ({
      file: `pg-role-${r.name}`,
      source: "generated" as const,
      description: `PostgreSQL password of role ${PG_ROLE_PREFIX}${r.name}`,
      on: x.service,
      grants: [{ unit: x.unit, id: x.id }],
    })),
);

/**
 * pg_hba lines for the roles' readers on other nodes: one per role and address, in the platform database
 * only. Nothing else from the private network reaches a role (docs/architecture.md D5).
 */
function remoteReaderLines(self: string, stack: readonly PlacedNodeView[]): string[] {
  return ROLES.flatMap((r) =>
    stack
      .filter((n) => n.name !== self && r.readers.some((x) => x.remote && n.services.includes(x.service)))
      .map((n) => `host    ${DATABASE_NAME} ${PG_ROLE_PREFIX}${r.name} ${n.privateIp}/32 scram-sha-256`),
  );
}

/** The roles as setup-postgresql reads them: comma-separated names per privilege. */
const names = (pick: (r: (typeof ROLES)[number]) => unknown) =>
  ROLES.filter(pick)
    .map((r) => r.name)
    .join(",");
const ROLE_SETTINGS = {
  XIOPRO_PG_ROLES: names(() => true),
  XIOPRO_PG_OWNER: names((r) => r.owns),
  XIOPRO_PG_CONNECT: names((r) => r.connect),
  XIOPRO_PG_READ_ALL: names((r) => r.readAll),
  XIOPRO_PG_MONITOR: names((r) => r.monitor),
};

/** A role's password: the roles unit sets it, its readers on the same node log in with it. */
function role(r: (typeof ROLES)[number]): CredentialSpec {
  return {
    file: `pg-role-${r.name}`,
    source: "generated",
    description: `PostgreSQL password of role ${PG_ROLE_PREFIX}${r.name}`,
    grants: [
      { unit: ROLES_UNIT, id: `pg-role-${r.name}` },
      ...r.readers.map((x) => ({ unit: x.unit, id: x.id, when: [{ service: x.service, on: "same-node" as const }] })),
    ],
  };
}

export const postgresql: ServiceSpec<PostgresqlOptions> = {
  name: "postgresql",
  configs: ["postgresql-conf", "pg-hba", "backup-env"],
  description: "PostgreSQL (distro package) with data on a Hetzner Volume",
  units: ["postgresql.service", "xiopro-postgres-roles.service"],
  timers: [],
  singleton: true,
  credentials: [...ROLES.map(role), ...remoteRoles],
  files: [
    { template: "units/postgresql-dropin.conf", path: "postgresql@.service.d/50-xiopro.conf" },
    { template: "units/xiopro-postgres-roles.service", path: "xiopro-postgres-roles.service" },
    { template: "cloud-init/files/setup-postgresql", path: libFile("setup-postgresql") },
  ],
  packages: { names: ["postgresql"] },
  startedBy: { "postgresql.service": "setup-postgresql, once the data volume is mounted" },
  interfaces: [
    {
      name: "postgres-local",
      port: 5432,
      protocol: "tcp",
      class: "D",
      bind: "localhost",
      owner: PLATFORM,
      access: ACCESS.D,
      justification: "Local services and backups connect over localhost",
    },
    {
      name: "postgres-private",
      port: 5432,
      protocol: "tcp",
      class: "C",
      bind: "private",
      owner: PLATFORM,
      access: ACCESS.C,
      justification: "Services on other nodes connect over the private network (scram-sha-256)",
      clients: ["wal-receiver", "agentd-web", "agentd-worker", "agentd-sweeper"],
    },
  ],
  options: obj(
    {
      pgvector: bool({
        description:
          "Install pgvector (vector similarity search, for the agents' embeddings) from the image's archive and create the vector extension in the platform database",
        default: false,
      }),
      majorVersionChange: optional(
        str({
          description:
            'The change of PostgreSQL major version a database node\'s new image brings, set on purpose: "15->17" after a fresh backup (docs/runbooks/postgresql-upgrade.md), or "17->15" back to an image whose cluster is still on the volume (an upgrade rolled back). Without it such an image change is refused',
          pattern: /^\d+->\d+$/,
          patternHint: 'the deployed major, "->", the new one, e.g. "15->17"',
        }),
      ),
    },
    { description: "Options of the postgresql service", default: { pgvector: false } },
  ),
  additions(o, host, stack) {
    const major = host.imageFacts?.postgresql;
    const pgvector = o.pgvector && major !== undefined;
    const remote = remoteReaderLines(host.node, stack);
    return {
      ...(remote.length ? { conf: { "pg_hba.conf": remote } } : {}),
      ...(pgvector ? { packages: [`postgresql-${major}-pgvector`] } : {}),
      // setup-postgresql creates the roles, and each listed extension in the platform database.
      env: { ...ROLE_SETTINGS, ...(pgvector ? { XIOPRO_PG_EXTENSIONS: "vector" } : {}) },
      ...(pgvector
        ? {
            sqlChecks: [
              {
                name: "pgvector extension installed in the platform database",
                database: "platform" as const,
                sql: "SELECT extname FROM pg_extension WHERE extname = 'vector'",
                expect: "vector",
              },
            ],
          }
        : {}),
    };
  },
  problems(o, host) {
    if (!o.pgvector || PGVECTOR_PACKAGED.includes(host.image)) return [];
    return [
      {
        field: "pgvector",
        message: `is true, but ${host.node}'s image ${host.image} has no pgvector package in its archive`,
        fix: `use image ${PGVECTOR_PACKAGED.join(" or ")} on that node, or set pgvector: false`,
      },
    ];
  },
};
