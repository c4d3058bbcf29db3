/**
 * The XMPP client's public types, apart from the code that uses @xmpp/client: the declarations
 * a user's compiler reads must not need that library's types (a development dependency here).
 */
export interface XmppDialOptions {
  /** The client's own XMPP account (`alice@example.net`) and password. */
  readonly jid?: string;
  readonly password?: string;
  /** The XMPP server to log in to: `xmpp://host:port` or `xmpps://host:port`; default the JID's domain. */
  readonly service?: string;
  /** Largest message either way, in bytes; default 1 MiB. */
  readonly maxPayload?: number;
}

/** What a robot says of itself in its presence. */
export interface RobotPresence {
  readonly jid: string;
  readonly name: string;
  readonly machineId: string;
  readonly services: readonly string[];
  readonly status: string;
  readonly online: boolean;
}
