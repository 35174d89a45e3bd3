// The S3 server of lab/s3.ts as a process of its own: started by startS3Server with its
// options as the one argument; prints "listening PORT" once it serves and exits when its stdin closes.
import { startS3, type S3Options } from "./s3.js";

const opts = JSON.parse(process.argv[2] ?? "{}") as S3Options;
startS3(opts).then(
  (s3) => {
    process.stdout.write(`listening ${s3.port}\n`);
    process.stdin.resume();
    process.stdin.on("end", () => void s3.close().then(() => process.exit(0)));
  },
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
