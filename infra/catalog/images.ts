// The OS images a node may boot, with what their packages can do and which test boots them
// (docs/architecture.md D1, D9; ADR 0003). Versions are those of each release's own archive.
export interface ImageFacts {
  os: string;
  postgresql: number;
  pgbackrest: string;
  /** The ICU library package (.NET programs such as the GitHub Actions runner need it). */
  libicu: string;
  /** How this repository's tests boot the image, or null when they do not boot it. */
  bootedBy: string | null;
}

export const IMAGES: Record<string, ImageFacts> = {
  "debian-13": {
    os: "Debian 13 (trixie)",
    postgresql: 17,
    pgbackrest: "2.55",
    libicu: "libicu76",
    bootedBy: "the VM boot proof (npm run test:vm) from its stock form",
  },
  "debian-12": {
    os: "Debian 12 (bookworm)",
    postgresql: 15,
    pgbackrest: "2.45",
    libicu: "libicu72",
    bootedBy: "the container variant (npm run test:e2e)",
  },
  "ubuntu-24.04": {
    os: "Ubuntu 24.04 (noble)",
    postgresql: 16,
    pgbackrest: "2.50",
    libicu: "libicu74",
    bootedBy: null,
  },
};

export const DEFAULT_IMAGE = "debian-13";

/** pgBackRest has SFTP repositories since 2.46 and takes new host keys (`accept-new`) since 2.48. */
export const PGBACKREST_SFTP_SINCE = "2.48";

/** Compares dotted versions numerically: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const x = a.split(".").map(Number);
  const y = b.split(".").map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++)
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}
