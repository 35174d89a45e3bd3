// What a real-system harness needs from this machine (commands, paths, root).
export interface Needs {
  /** Commands looked up in PATH. */
  commands?: string[];
  /** Files or directories that must exist (for example PostgreSQL's versioned binaries). */
  paths?: string[];
  /** Needs root (network namespaces, nftables). */
  root?: boolean;
}
