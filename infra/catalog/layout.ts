// Where the toolkit puts things on a node and what it calls them, written once. The renderer,
// the components and the CLIs import these; unit templates get them as `{{XIOPRO_…}}` placeholders
// (cloud-init/templates.ts). It sits in the catalog room so every room, config included, can use it.

/** The node's paths and names, keyed by the variable name units and node scripts know them by. */
export const NODE_LAYOUT = {
  /** The node scripts (cloud-init/files), installed from the user-data bundle. */
  XIOPRO_LIB: "/usr/local/lib/xiopro",
  /** Rendered settings and env files. */
  XIOPRO_ETC: "/etc/xiopro",
  /** The toolkit's own data: the state and metrics directories below, the backup user's home. */
  XIOPRO_HOME: "/var/lib/xiopro",
  /** One JSON record per job run and the results of restores and drills. */
  XIOPRO_STATE_DIR: "/var/lib/xiopro/state",
  /** Text-format metrics for node-exporter's textfile collector. */
  XIOPRO_METRICS_DIR: "/var/lib/xiopro/metrics",
  /** systemd's encrypted credential store (docs/secrets.md). */
  XIOPRO_CREDSTORE: "/etc/credstore.encrypted",
  /** The group whose members may write the state and metrics directories. */
  XIOPRO_STATE_GROUP: "xiopro-state",
  /** The system user of the file and dump backups. */
  XIOPRO_BACKUP_USER: "xiopro-backup",
  /** Where PostgreSQL keeps its clusters (Debian's layout): the database volume is mounted here. */
  XIOPRO_PG_VOLUME: "/var/lib/postgresql",
} as const;

export type LayoutVariable = keyof typeof NODE_LAYOUT;

/** The account the admin path logs in as (SSH `AllowUsers`, cloud-init `users`, the CLIs' default). */
export const ADMIN_USER = "ops";

/** The application's database, owned by the api role. */
export const DATABASE_NAME = "xiopro";

/** The platform's database roles are this prefix and the role's name (`xiopro_api`, `xiopro_backup`). */
export const PG_ROLE_PREFIX = "xiopro_";

/** The pgBackRest stanza of the node's cluster. */
export const PGBACKREST_STANZA = "xiopro";

/** The WAL receiver's names: one role, and one slot that is also the application name the database waits for. */
export const WAL_RECEIVER = {
  role: "xiopro_walreceiver",
  slot: "xiopro_walreceiver",
  dir: "/var/lib/xiopro-walreceiver/wal",
} as const;

/** What the node scripts read from /etc/xiopro/layout.env: the layout, the database, its role prefix and the stanza. */
export const LAYOUT_ENV = {
  ...NODE_LAYOUT,
  XIOPRO_DATABASE: DATABASE_NAME,
  XIOPRO_PG_ROLE_PREFIX: PG_ROLE_PREFIX,
  PGBACKREST_STANZA,
} as const;

/** Where the node scripts find LAYOUT_ENV: the one path they know by heart (tests set XIOPRO_LAYOUT). */
export const LAYOUT_ENV_FILE = `${NODE_LAYOUT.XIOPRO_ETC}/layout.env`;

/** A file under /etc/xiopro. */
export const etcFile = (name: string): string => `${NODE_LAYOUT.XIOPRO_ETC}/${name}`;

/** A node script under /usr/local/lib/xiopro. */
export const libFile = (name: string): string => `${NODE_LAYOUT.XIOPRO_LIB}/${name}`;

/** A run's record in the state directory (written by xiopro-job, xiopro-restore, the drill). */
export const stateFile = (name: string): string => `${NODE_LAYOUT.XIOPRO_STATE_DIR}/${name}`;
