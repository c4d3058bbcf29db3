import type { NodeTls } from '../transport/node-tls.js';
import type { MailboxOptions } from '../mailbox.js';
import type { WireError } from '../messages.js';

/** What a parent node tells the node it starts in a worker or child process. */
export interface ChildConfig {
  readonly module: string;
  readonly export: string;
  readonly id: string;
  readonly name: string | undefined;
  readonly mailbox: MailboxOptions | undefined;
  readonly machineId: string;
  /** The robot's secret: the child's node proves it like any node. */
  readonly secret: string;
  /** The node's certificate for tls: endpoints, if it has one. */
  readonly tls: NodeTls | undefined;
  readonly callTimeout: number;
  readonly maxMessageBytes: number;
  readonly directory: { readonly address: string; readonly endpoints: readonly string[] };
  readonly listen: readonly string[];
}

/**
 * The control messages between a parent node and the child node it started (worker
 * `postMessage` or the child process's IPC channel). Calls never use this channel: once
 * started, the child is a node like any other and is called through the router.
 */
export type ToParent =
  | { readonly kind: 'started'; readonly address: string; readonly pid: number; readonly endpoints: readonly string[] }
  | { readonly kind: 'ignored' }
  | { readonly kind: 'failed'; readonly error: WireError }
  | { readonly kind: 'exited'; readonly reason: string }
  /** A runtime warning of the child's node, for the parent's `onWarning`. */
  | { readonly kind: 'warning'; readonly message: string };

export type ToChild = { readonly kind: 'config'; readonly config: ChildConfig } | { readonly kind: 'stop' };
