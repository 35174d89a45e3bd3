// Flag parsing shared by the thin CLIs: strict flags, no positionals, `-h/--help`.
import { parseArgs, type ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Flags<O extends Options> = ReturnType<
  typeof parseArgs<{ options: O & { help: { type: "boolean"; short: "h" } }; strict: true; allowPositionals: false }>
>["values"];

/**
 * Parses process.argv. Returns the flags, or the exit code when the CLI is done: 0 after printing
 * the usage for --help, 2 after printing a bad flag with the usage.
 */
export function parseFlags<const O extends Options>(
  options: O,
  usage: string,
  argv: string[] = process.argv.slice(2),
): Flags<O> | number {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    });
    if ((values as { help?: boolean }).help) {
      console.log(usage);
      return 0;
    }
    return values as Flags<O>;
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${usage}`);
    return 2;
  }
}
