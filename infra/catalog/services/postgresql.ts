import { libFile } from "../layout.js";
import { bool, obj } from "../schema.js";
import { ACCESS, PLATFORM, type CredentialSpec, type ServiceSpec } from "../service-spec.js";

interface PostgresqlOptions {
  pgvector: boolean;
}

/** Images whose archive packages pgvector for their PostgreSQL (`postgresql-<major>-pgvector`). */
const PGVECTOR_PACKAGED = ["debian-13", "ubuntu-24.04"];

const ROLES_UNIT = "xiopro-postgres-roles.service";

/** A service role's password: the roles unit sets it, the units of `readers` on the same node log in with it. */
function role(name: string, readers: { service: string; unit: string; id: string }[]): CredentialSpec {
  return {
    file: `pg-role-${name}`,
    source: "generated",
    description: `PostgreSQL password of role xiopro_${name}`,
    grants: [
      { unit: ROLES_UNIT, id: `pg-role-${name}` },
      ...readers.map((r) => ({ unit: r.unit, id: r.id, when: [{ service: r.service, on: "same-node" as const }] })),
    ],
  };
}

export const postgresql: ServiceSpec<PostgresqlOptions> = {
  name: "postgresql",
  description: "PostgreSQL (distro package) with data on a Hetzner Volume",
  units: ["postgresql.service", "xiopro-postgres-roles.service"],
  timers: [],
  singleton: true,
  credentials: [
    role("api", [{ service: "agentd-web", unit: "agentd-web.service", id: "DATABASE_PASSWORD" }]),
    role("worker", [
      { service: "agentd-worker", unit: "agentd-worker@.service", id: "DATABASE_PASSWORD" },
      { service: "agentd-sweeper", unit: "agentd-sweeper.service", id: "DATABASE_PASSWORD" },
    ]),
    role("backup", [{ service: "backup", unit: "xiopro-pgdump.service", id: "pg-role-backup" }]),
    role("readonly", []),
  ],
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
    },
  ],
  options: obj(
    {
      pgvector: bool({
        description:
          "Install pgvector (vector similarity search, for the agents' embeddings) from the image's archive and create the vector extension in the platform database",
        default: false,
      }),
    },
    { description: "Options of the postgresql service", default: { pgvector: false } },
  ),
  additions(o, host) {
    if (!o.pgvector || !host.imageFacts) return {};
    return {
      packages: [`postgresql-${host.imageFacts.postgresql}-pgvector`],
      // setup-postgresql creates each listed extension in the platform database.
      env: { XIOPRO_PG_EXTENSIONS: "vector" },
      sqlChecks: [
        {
          name: "pgvector extension installed in the platform database",
          database: "platform",
          sql: "SELECT extname FROM pg_extension WHERE extname = 'vector'",
          expect: "vector",
        },
      ],
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
