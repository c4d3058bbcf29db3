#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { runBench } from './bench-command.js';
import { runDemo } from './demo-command.js';
import { serveInspector, type InspectOptions } from './inspect-page-command.js';
import { runDirectory } from './directory-command.js';
import { printNewToken, runGateway } from './gateway-command.js';
import { runXmppLink } from './xmpp-command.js';
import { listRobots, listServices, serviceInfo, trees } from './inspect-commands.js';
import type { GatewayCliOptions } from './robot.js';
import { call, get, post, set, watch } from './member-commands.js';
import { runModule } from './run-command.js';
import { top, type TopOptions } from './top-command.js';
import { DEFAULT_DIRECTORY, UsageError, type RobotOptions } from './session.js';

const print = (line: string): void => void process.stdout.write(`${line}\n`);
const warn = (line: string): void => void process.stderr.write(`${line}\n`);

const CONFIGURATION = `
Configuration (options first, then environment, then defaults):
  QIACT_MACHINE_ID       this computer's id      default: ~/.config/qiact/machine_id (created once)
  QIACT_CALL_TIMEOUT_MS  default call timeout    default: 30000
  QIACT_MAX_MESSAGE_BYTES  the largest message taken from another process or machine
                         default: 16777216 (16 MiB)
  QIACT_HEAP_GROWING_PERCENT  V8's --heap-growing-percent for this process and the service
                         processes it starts (300: large payloads move about twice as fast)
                         default: unset (V8's own)
  QIACT_DIRECTORY        the node whose directory to use (tcp:host:port, unix:/path)
                         default: unset (a node embeds its directory; commands use ${DEFAULT_DIRECTORY})
  QIACT_LISTEN           extra endpoints to listen on, comma-separated (tcp:host:port)
                         default: this node's own Unix socket only
  QIACT_SECRET           the robot's secret, proven on every link between its nodes (16+ characters)
                         default: ~/.config/qiact/secret (created once, owner-only; copy it to
                         the robot's other computers)
  QIACT_TLS_CERT, QIACT_TLS_KEY, QIACT_TLS_CA
                         PEM files: this computer's certificate, its key, the robot's CA, for
                         tls:host:port links between computers   default: unset (no tls:)
  QIACT_TOKEN            the token for --gateway  default: unset
  QIACT_XMPP_PASSWORD    the password for --xmpp  default: unset

From outside the robot, every command that talks to it takes --gateway tls://robot:9443 with
--token (or --cert/--key) and --ca, or --xmpp you@server --robot robot@server --password P;
tree is refused there (it shows the robot's inside).

Exit codes: 0 success; 1 failure (unreachable directory, no such service, timeout, service error,
refused at the door), with one line on stderr; 2 a mistake in the command line (unknown command,
bad JSON argument); 3 a long-running node went down (its root supervisor gave up). A stop signal
(Ctrl-C, SIGTERM) stops a long-running command cleanly; a second one, or 10 s, ends it at once.
`;

/** Options of every command that talks to a running robot, from inside or through its Gateway. */
function robot(command: Command): Command {
  return xmppLogin(joins(command))
    .option('--robot <jid>', "with --xmpp: the robot's JID")
    .option('-g, --gateway <url>', "reach the robot from outside, through its Gateway (tls://host:port, or wss://host:port for its WebSocket door)")
    .option('--token <token>', 'with --gateway: a bearer token (default: $QIACT_TOKEN)')
    .option('--cert <file>', 'with --gateway: a client certificate (PEM), with --key')
    .option('--key <file>', "with --gateway: the client certificate's key (PEM)")
    .option('--ca <file>', "with --gateway: the CA that signed the gateway's certificate (PEM)")
    .option('--proxy <url>', 'with --gateway: tunnel through an HTTP proxy, http://[user:password@]host:port')
    .option('-x, --xmpp <jid>', 'reach the robot through XMPP, logged in as this JID (with --robot, --password)');
}

/** Options of the XMPP login (robot commands through XMPP, and `robots`). */
function xmppLogin(command: Command): Command {
  return command
    .option('--password <password>', 'with --xmpp: the password of your JID (default: $QIACT_XMPP_PASSWORD)')
    .option('--xmpp-server <url>', "with --xmpp: the XMPP server, xmpp://host:port (default: your JID's domain)");
}

/** Options of every command that joins a robot's directory as a node. */
function joins(command: Command): Command {
  return command
    .option('-d, --directory <url>', `the robot's directory (default: $QIACT_DIRECTORY, else ${DEFAULT_DIRECTORY})`)
    .option('--json', 'machine-readable output (one JSON value per line)')
    .option('-t, --timeout <ms>', 'call timeout in milliseconds (default: $QIACT_CALL_TIMEOUT_MS, else 30000)')
    .option('-v, --verbose', 'print runtime warnings on stderr');
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function program(exit: (code: number) => void): Command {
  const qiact = new Command('qiact')
    .description('qiact: an actor runtime for robot software; drive a running robot from the shell')
    .addHelpText('after', CONFIGURATION)
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s), outputError: (s) => warn(`qiact: ${s.replace(/^error: /, '').trimEnd()} (see qiact --help)`) });
  const done = (code: Promise<number>): Promise<void> => code.then(exit);

  qiact
    .command('demo')
    .description('run the embedded demo robot: an in-process directory, a supervised service tree, calls, a signal, a crash and its restart')
    .action(() => done(runDemo(print)));
  qiact
    .command('directory')
    .description('run the robot\'s ServiceDirectory (TCP 127.0.0.1:9559 and an owner-only Unix socket) until Ctrl-C')
    .addOption(new Option('-l, --listen <endpoint>', 'listen here instead (repeatable; tcp:0.0.0.0:9559 to accept other machines)').argParser(collect))
    .option('--max-services <n>', 'the most services it holds; registrations past it are refused (default 100000)')
    .option('-v, --verbose', 'print runtime warnings on stderr')
    .option('--json', 'machine-readable output (one JSON value per line)')
    .action((o: { listen?: string[]; maxServices?: string; json?: boolean }) => done(runDirectory(o, print, warn)));
  joins(qiact.command('gateway'))
    .description("run the robot's Gateway for clients from outside (TLS, tokens or client certificates, permissions), until Ctrl-C")
    .requiredOption('-c, --config <file>', 'the gateway configuration: JSON with listen, cert, key, ca (PEM paths), tokens, permissions, limits')
    .action((o: RobotOptions & { config: string }) => done(runGateway(o, print, warn)));
  joins(qiact.command('xmpp'))
    .description("run the robot's XMPP link: presence on an XMPP server, and calls through it from behind a NAT, until Ctrl-C")
    .requiredOption('-c, --config <file>', 'the link configuration: JSON with service, domain, username, password (or $QIACT_XMPP_PASSWORD), permissions by JID')
    .action((o: RobotOptions & { config: string }) => done(runXmppLink(o, print, warn)));
  qiact
    .command('token')
    .description("make a new random client token, and the hash to put in the gateway's configuration")
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => done(Promise.resolve(printNewToken(o, print))));
  xmppLogin(qiact.command('robots'))
    .description('the robots your XMPP account follows, online or not, with their services')
    .option('-x, --xmpp <jid>', 'your JID (user@domain)')
    .option('--json', 'machine-readable output')
    .action((o: GatewayCliOptions & { json?: boolean }) => done(listRobots(o, print)));
  joins(qiact.command('run').argument('<module>', 'a module exporting Service classes, fromMachine(...) services, or a default supervisor spec'))
    .description('start a node hosting the services a module exports, until Ctrl-C')
    .addOption(new Option('-l, --listen <endpoint>', 'also listen here (repeatable), e.g. tcp:192.168.1.10:0').argParser(collect))
    .action((module: string, o: RobotOptions & { listen?: string[] }) => done(runModule(module, o, print, warn)));
  robot(qiact.command('ls'))
    .description('list the services: id, name, machine, process, endpoints')
    .action((o: RobotOptions) => done(listServices(o, print, warn)));
  robot(qiact.command('info').argument('<service>'))
    .description("a service's entry and what it offers: methods (with declared types), signals, properties")
    .action((name: string, o: RobotOptions) => done(serviceInfo(name, o, print, warn)));
  robot(qiact.command('call').argument('<service.method>').argument('[args...]', 'arguments, each one JSON value'))
    .description('call a method and print its result')
    .action((target: string, args: string[], o: RobotOptions) => done(call(target, args, o, print, warn)));
  robot(qiact.command('post').argument('<service.method>').argument('[args...]', 'arguments, each one JSON value'))
    .description('send a method call without waiting for a result')
    .action((target: string, args: string[], o: RobotOptions) => done(post(target, args, o, print, warn)));
  robot(qiact.command('get').argument('<service.property>'))
    .description("print a property's value")
    .action((target: string, o: RobotOptions) => done(get(target, o, print, warn)));
  robot(qiact.command('set').argument('<service.property>').argument('<value>', 'one JSON value'))
    .description('set a property')
    .action((target: string, value: string, o: RobotOptions) => done(set(target, value, o, print, warn)));
  robot(qiact.command('watch').argument('<service.signal>', 'a signal or a property'))
    .description('print each value of a signal as it arrives, until Ctrl-C')
    .action((target: string, o: RobotOptions) => done(watch(target, o, print, warn)));
  robot(qiact.command('tree'))
    .description('the supervision trees of every node, with where each child lives and its restarts')
    .action((o: RobotOptions) => done(trees(o, print, warn)));
  robot(qiact.command('top'))
    .description('a live view of the robot: its nodes, then its actors by mailbox depth or message rate, with failures and restarts, every second (--json: one sample per line)')
    .option('--sort <key>', "order actors by 'mailbox' (default) or 'rate'")
    .option('--limit <n>', 'actors shown (default 25)')
    .option('--interval <ms>', 'between samples, from inside (default 1000; through a door the robot sends one a second)')
    .option('--count <n>', 'stop after this many samples (default: until Ctrl-C)')
    .action((o: TopOptions) => done(top(o, print, warn)));
  qiact
    .command('inspect')
    .description("serve the inspector page on loopback for a robot's WebSocket door (its Gateway serves the same page itself at https://robot:port/), until Ctrl-C")
    .requiredOption('-g, --gateway <url>', "the robot's WebSocket door, wss://host:port (its webSocket.origins must list this page's origin)")
    .option('-l, --listen <host:port>', 'where to serve the page, on loopback', '127.0.0.1:8080')
    .option('--json', 'machine-readable output (one JSON value per line)')
    .action((o: InspectOptions) => done(serveInspector(o, print, warn)));
  qiact
    .command('bench')
    .description('run the benches from a clone (latency per path, directory scale); options go to them: --quick, --json, --only <path>')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[args...]')
    .action((args: string[]) => done(runBench(args, print)));
  return qiact;
}

let finished = false;
const finish = (code: number): void => {
  finished = true;
  process.exitCode = code;
};

// If the event loop empties while a command still waits, it would never finish: say so, fail.
process.on('beforeExit', () => {
  if (finished) return;
  finished = true;
  warn('qiact: the command stopped before finishing (it waited for something that can no longer happen)');
  process.exitCode = 1;
});

// Bare `qiact` runs the demo, as `npm start` does.
const argv = process.argv.length > 2 ? process.argv : [...process.argv, 'demo'];
program(finish)
  .parseAsync(argv)
  .catch((error: unknown) => {
    if (error instanceof CommanderError) return finish(error.exitCode === 0 ? 0 : 2);
    if (error instanceof UsageError) {
      warn(`qiact: ${error.message}`);
      return finish(2);
    }
    warn(`qiact: ${error instanceof Error ? error.message : String(error)}`);
    finish(1);
  });
