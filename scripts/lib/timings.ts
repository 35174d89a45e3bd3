// The steps of a long operator command (rebuild, drill, update) as they ran, and the timing table
// they end with.
export type StepStatus = "ok" | "failed" | "skipped" | "planned";

export interface StepResult {
  /** A StepId here; the fresh-VM drill has its own (stack, destroy). */
  id: string;
  title: string;
  status: StepStatus;
  seconds: number;
  detail: string;
  /** Sub-steps with their seconds (xiopro-restore's own timing lines). */
  parts?: Record<string, number>;
}

function duration(s: number): string {
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** The RTO: every step's time and the total, as the last lines the command prints. */
export function formatTimings(stack: string, results: StepResult[]): string {
  const total = results.reduce((a, r) => a + r.seconds, 0);
  const w = Math.max(...results.map((r) => r.id.length), 5);
  const lines = results.map((r) => {
    const parts =
      r.parts && Object.keys(r.parts).length
        ? `  (${Object.entries(r.parts)
            .map(([k, v]) => `${k} ${v.toFixed(1)}`)
            .join(", ")})`
        : "";
    return `  ${r.id.padEnd(w)}  ${r.seconds.toFixed(1).padStart(8)} s  ${r.status}${parts}`;
  });
  return [
    `Timing (stack ${stack}):`,
    ...lines,
    `  ${"total".padEnd(w)}  ${total.toFixed(1).padStart(8)} s  RTO ${duration(total)}`,
  ].join("\n");
}
