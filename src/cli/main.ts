#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { runDemo } from './demo-command.js';

const HELP = `qiact — an actor runtime for robot software

Usage: qiact [command] [options]

Commands:
  demo          run the embedded demo robot (default): an in-process directory, a
                supervised service tree (battery, motion, tts), calls, a signal,
                a crash and its restart

Options:
  -h, --help    print this help

Configuration (options first, then environment, then defaults):
  QIACT_MACHINE_ID       this computer's id      default: ~/.config/qiact/machine_id (created once)
  QIACT_CALL_TIMEOUT_MS  default call timeout    default: 30000
  QIACT_DIRECTORY        the node whose directory to use (tcp:host:port, unix:/path)
                                                 default: unset (embedded directory)
  QIACT_LISTEN           extra endpoints to listen on, comma-separated (tcp:host:port)
                                                 default: this node's own Unix socket only
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const command = positionals[0] ?? 'demo';
  if (command === 'demo') return runDemo((line) => console.log(line));
  process.stderr.write(`qiact: unknown command '${command}' (see qiact --help)\n`);
  return 2;
}

let finished = false;
// If the event loop empties while a command still waits, it would never finish: say so, fail.
process.on('beforeExit', () => {
  if (finished) return;
  finished = true;
  process.stderr.write('qiact: the command stopped before finishing (it waited for something that can no longer happen)\n');
  process.exitCode = 1;
});

main(process.argv.slice(2)).then(
  (code) => {
    finished = true;
    process.exitCode = code;
  },
  (error: unknown) => {
    finished = true;
    process.stderr.write(`qiact: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
