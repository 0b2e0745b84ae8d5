/**
 * The kalandrad configuration schema: every key with its type, default, bounds, whether a
 * SIGHUP reload may change it, and its documentation. docs/configuration.md is rendered
 * from this table (`kalandrad config-docs`) and a test keeps the two equal.
 *
 * Every default is chosen so that `kalandrad start` runs with no file at all: listen on
 * loopback, LMDB in ./data, a generated development certificate.
 */

export type FieldType = "string" | "int" | "bool" | "enum" | "string[]" | "address" | "peers";

/**
 * One `[[federation.peers]]` table: a hub this hub links to (DESIGN §11). The hub key is
 * pinned here, so a link is authenticated by the key and never by the network address.
 */
export interface PeerConfig {
  /** The peer's `server.domain`; its users are `name@domain`. */
  domain: string;
  /**
   * Where this hub dials it: `ws://host:port/kalandra` (loopback) or `wss://…`. Absent for a
   * peer reached through another (`via`).
   */
  url?: string;
  /** The peer's Ed25519 hub public key, 64 hex digits (`kalandrad` logs it as `hub_key`). */
  hub_key: string;
  /** Onward relay: the directly linked peer this hub reaches it through (never dialed). */
  via?: string;
}

export interface Field {
  type: FieldType;
  default: string | number | boolean | string[] | PeerConfig[];
  doc: string;
  /** May change on SIGHUP without a restart. */
  reload?: boolean;
  min?: number;
  max?: number;
  values?: readonly string[];
  /** Never logged or printed. */
  secret?: boolean;
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;

/** The values of `auth.methods` (runtime/node/authMethods.ts builds the authenticators of each). */
export const AUTH_METHODS = ["dev", "enrollment", "oidc"] as const;

export const schema = {
  server: {
    listen: {
      type: "address",
      default: "127.0.0.1:4433",
      doc: "WebTransport listen address (host:port).",
    },
    websocket_listen: {
      type: "address",
      default: "127.0.0.1:4480",
      doc: "WebSocket listen address (host:port; clients connect to `ws://host:port/kalandra`, `wss://` when `tls.cert` is set); empty string disables it. A non-loopback address needs `tls.cert` or `websocket_plaintext = true`.",
    },
    websocket_plaintext: {
      type: "bool",
      default: false,
      doc: "Allow plain (unencrypted) WebSocket on a non-loopback `websocket_listen` without `tls.cert` (for a TLS-terminating proxy in front). Loopback is always allowed plaintext.",
    },
    websocket_fronts: {
      type: "int",
      default: 0,
      min: 0,
      max: 64,
      doc: 'WebSocket front processes: 0 = the WebSocket sockets live in the hub\'s process; N > 0 = the hub accepts each connection on `websocket_listen` and passes it to one of N child processes that hold the sockets (TLS and WebSocket framing there, every session still in the hub). One process holds at most `ulimit -n` sockets: fronts let one hub serve more (docs/architecture.md "WebSocket front processes"). A front that exits ends its sessions and is restarted.',
    },
    shards: {
      type: "int",
      default: 0,
      min: 0,
      max: 256,
      doc: "Sequencer shards (DESIGN §9); 0 = one per CPU core (`os.availableParallelism()`) when the data directory is new, else the count it was created with. A data directory of the worker runtime keeps its shard count: another non-zero value is refused at start.",
    },
    shard_runtime: {
      type: "enum",
      default: "worker",
      values: ["worker", "in-process"],
      doc: '`worker`: each shard is a worker thread with its own LMDB directory `<database.path>/shard-<i>`; `in-process`: every shard in the main thread over the one LMDB of `database.path`. A data directory keeps the runtime it was created with (docs/architecture.md "Shards").',
    },
    log_level: {
      type: "enum",
      default: "info",
      values: LOG_LEVELS,
      reload: true,
      doc: "Minimum level of the JSON log lines written to stdout.",
    },
    hub_key: {
      type: "string",
      default: "",
      doc: "Path of the hub's Ed25519 key (PEM); empty = `<database.path>/hub-key.pem`, created on first start.",
      secret: false,
    },
    drain_timeout_ms: {
      type: "int",
      default: 10000,
      min: 100,
      max: 600000,
      reload: true,
      doc: "On SIGTERM/SIGINT: how long in-flight requests may take before the process exits anyway.",
    },
    domain: {
      type: "string",
      default: "localhost",
      doc: "This hub's domain: users authenticated by `enrollment` or `oidc` are `name@domain` (DESIGN §10).",
    },
  },
  auth: {
    methods: {
      type: "string[]",
      default: ["dev"],
      values: AUTH_METHODS,
      doc: 'How devices prove their user (docs/identity.md): `"dev"` (users name themselves; only when every listener is on loopback, logged as a warning), `"enrollment"` (one-time codes from `kalandrad admin user add`, further devices by device links), `"oidc"` (OpenID Connect tokens).',
    },
    max_devices_per_user: {
      type: "int",
      default: 10,
      min: 1,
      max: 1000,
      doc: "Active (unrevoked) devices one user may have; a further device gets TOO_MANY_DEVICES.",
    },
    enrollment_code_ttl_s: {
      type: "int",
      default: 86400,
      min: 1,
      max: 30 * 86400,
      doc: "How long an enrollment code from `kalandrad admin user add` stays usable (it is used once).",
    },
    device_link_ttl_s: {
      type: "int",
      default: 600,
      min: 10,
      max: 86400,
      doc: "Longest lifetime a device link may declare (signed by one of the user's devices, used once).",
    },
    oidc_issuer: {
      type: "string",
      default: "",
      doc: 'OpenID Connect: the issuer every token\'s `iss` must equal, exactly (e.g. `https://accounts.example.com/realms/staff`); empty = no OIDC authenticator. Needs `oidc_audience` and one of `oidc_jwks_url`, `oidc_jwks_file` (docs/operations.md "OpenID Connect").',
    },
    oidc_audience: {
      type: "string",
      default: "",
      doc: "OpenID Connect: the value a token's `aud` must be or contain (the client id the hub's users log in with).",
    },
    oidc_jwks_url: {
      type: "string",
      default: "",
      doc: "OpenID Connect: the issuer's JWKS (`jwks_uri` of its discovery document); https, or http on loopback only. Fetched when first needed and again when a token names an unknown key (at most every 30 s).",
    },
    oidc_jwks_file: {
      type: "string",
      default: "",
      doc: 'OpenID Connect: a JWKS file (`{"keys": [...]}`) instead of `oidc_jwks_url`, read at start.',
    },
    oidc_user_claim: {
      type: "string",
      default: "sub",
      doc: "OpenID Connect: the claim naming the user (`sub`, `preferred_username`, `email`, ...); the user id is `<claim>@<server.domain>`. A value with `@` must end in `@<server.domain>`; `email` also needs `email_verified: true`.",
    },
    oidc_clock_skew_s: {
      type: "int",
      default: 60,
      min: 0,
      max: 600,
      doc: "OpenID Connect: seconds of clock difference allowed when checking `exp` and `nbf`.",
    },
  },
  tls: {
    cert: {
      type: "string",
      default: "",
      doc: "PEM certificate chain; empty (with `key` empty) = generate a development certificate at start.",
    },
    key: { type: "string", default: "", doc: "PEM private key of `cert`.", secret: false },
    expiry_warning_days: {
      type: "int",
      default: 14,
      min: 0,
      max: 365,
      reload: true,
      doc: "Log a warning at start, at every SIGHUP and once a day while the configured certificate expires within this many days (0 = only once expired). The files at `cert`/`key` are re-read on SIGHUP; `kalandra_tls_cert_expiry_seconds` reports the time left.",
    },
  },
  database: {
    path: { type: "string", default: "./data", doc: "LMDB data directory (created if missing)." },
    sync: {
      type: "enum",
      default: "full",
      values: ["full", "none"],
      doc: "`full` fsyncs every acknowledged write (DESIGN §5); `none` is for benchmarks only and loses acknowledged frames on a crash.",
    },
  },
  limits: {
    max_connections: {
      type: "int",
      default: 10000,
      min: 1,
      max: 1_000_000,
      reload: true,
      doc: "Open client sessions; more are refused with TOO_MANY_CONNECTIONS.",
    },
    max_connections_per_ip: {
      type: "int",
      default: 2000,
      min: 0,
      max: 1_000_000,
      reload: true,
      doc: "Open sessions from one source address over all listeners; more are refused with TOO_MANY_CONNECTIONS (0 = no cap). Behind a proxy every client has the proxy's address: raise it or set 0.",
    },
    max_sessions_per_user: {
      type: "int",
      default: 50,
      min: 0,
      max: 1_000_000,
      reload: true,
      doc: "Authenticated sessions of one user over all its devices; one more gets TOO_MANY_CONNECTIONS instead of AUTH_OK and is closed (0 = no cap).",
    },
    max_rooms: {
      type: "int",
      default: 100000,
      min: 1,
      max: 100_000_000,
      reload: true,
      doc: "Rooms on this hub; ROOM_CREATE beyond it gets TOO_MANY_ROOMS.",
    },
    max_rooms_per_user: {
      type: "int",
      default: 1000,
      min: 1,
      max: 100_000_000,
      reload: true,
      doc: "Rooms one user may create (counted from storage, so across restarts); beyond it that user's ROOM_CREATE gets TOO_MANY_ROOMS while other users still create rooms.",
    },
    max_room_creations_per_minute: {
      type: "int",
      default: 60,
      min: 1,
      max: 1_000_000,
      reload: true,
      doc: "ROOM_CREATE requests one user may make per minute; more get RATE_LIMITED.",
    },
    max_key_packages_per_device: {
      type: "int",
      default: 200,
      min: 1,
      max: 1_000_000,
      reload: false,
      doc: "One-shot key packages stored per device; an upload that would pass it gets TOO_MANY_KEY_PACKAGES.",
    },
    max_members_per_room: {
      type: "int",
      default: 10_000,
      min: 2,
      max: 100000,
      reload: true,
      doc: "Members of one room; commits growing a room beyond it get ROOM_FULL.",
    },
    max_payload_bytes: {
      type: "int",
      default: 16 * 1024 * 1024,
      min: 1024,
      max: 0xffff_ffff,
      reload: true,
      doc: "Largest payload_size accepted; larger headers get PAYLOAD_TOO_LARGE and the session is closed.",
    },
    connection_rate: {
      type: "int",
      default: 500,
      min: 1,
      max: 10_000_000,
      reload: true,
      doc: "Frames per second one session may send (token bucket refill).",
    },
    connection_burst: {
      type: "int",
      default: 1000,
      min: 1,
      max: 10_000_000,
      reload: true,
      doc: "Token bucket size per session.",
    },
    device_rate: {
      type: "int",
      default: 500,
      min: 1,
      max: 10_000_000,
      reload: true,
      doc: "Frames per second one device may send over all its sessions.",
    },
    device_burst: {
      type: "int",
      default: 1000,
      min: 1,
      max: 10_000_000,
      reload: true,
      doc: "Token bucket size per device.",
    },
    welcome_ttl_s: {
      type: "int",
      default: 14 * 24 * 3600,
      min: 60,
      max: 365 * 24 * 3600,
      doc: "Seconds a Welcome waits in its device's inbox for the device to connect and acknowledge it; then it is erased.",
    },
    welcome_inbox_per_device: {
      type: "int",
      default: 100,
      min: 1,
      max: 100_000,
      doc: "Welcomes kept per device; beyond it the device's oldest are dropped.",
    },
    kp_claims_per_min_per_claimer: {
      type: "int",
      default: 600,
      min: 1,
      max: 10_000_000,
      doc: "KP_CLAIMs one user may make per minute over all its devices (also the burst); more get CLAIM_RATE_LIMITED.",
    },
    kp_claims_per_min_per_target: {
      type: "int",
      default: 30,
      min: 1,
      max: 10_000_000,
      doc: "KP_CLAIMs naming one user per minute, whoever makes them (also the burst); more get CLAIM_RATE_LIMITED, so draining a user's key packages is slow.",
    },
    max_strikes: {
      type: "int",
      default: 3,
      min: 1,
      max: 1000,
      reload: true,
      doc: "SENDER_MISMATCH / BAD_SIGNATURE / UNAUTHENTICATED refusals after which the session is closed.",
    },
    auth_timeout_ms: {
      type: "int",
      default: 10000,
      min: 100,
      max: 600000,
      reload: true,
      doc: "Time a new session has to finish the auth handshake.",
    },
    keepalive_interval_ms: {
      type: "int",
      default: 60000,
      min: 0,
      max: 3_600_000,
      reload: true,
      doc: "Silence from an authenticated client after which the hub sends it a PING (and again every interval while the silence lasts); 0 = the hub never pings. Clients ping on their own when quiet (the client's default is every 45 s), so a live client is rarely pinged by the hub. Through WebSocket front processes (`server.websocket_fronts`) the front sends a WebSocket ping frame instead (no signature, answered by the client's WebSocket itself).",
    },
    client_ping_interval_ms: {
      type: "int",
      default: 0,
      min: 0,
      max: 3_600_000,
      reload: true,
      doc: "How often the hub asks its clients to PING when quiet (AUTH_OK `ping_ms`), on sessions whose transport keeps them alive itself: WebSocket through front processes (`server.websocket_fronts`), where the front's ping frames see a vanished client. A longer interval than the client's default (45 s) saves the fronts, which answer those PINGs, a signature check and a signed PONG per PING (issue 15); the client's own timeout grows with it, so it notices a hung hub later. 0 = not said (clients keep their own interval). Needs clients that know `ping_ms` (older ones refuse an AUTH_OK carrying it).",
    },
    idle_timeout_ms: {
      type: "int",
      default: 150000,
      min: 0,
      max: 86_400_000,
      reload: true,
      doc: "Silence from an authenticated client after which the hub closes its session (`kalandra_sessions_idle_closed_total`); 0 = never. Keep it above `keepalive_interval_ms` and above the clients' ping interval.",
    },
  },
  federation: {
    enabled: {
      type: "bool",
      default: false,
      doc: "Federate with the hubs of `peers` (DESIGN §11, docs/federation.md); this hub's domain towards them is `server.domain`. Disabled: no link is dialed or accepted and federation frames are refused as before.",
    },
    allow: {
      type: "string[]",
      default: [],
      reload: true,
      doc: "Domains of `peers` allowed to link and to originate relayed frames; empty = every configured peer.",
    },
    block: {
      type: "string[]",
      default: [],
      reload: true,
      doc: "Domains refused (PEER_BLOCKED, audited) even when configured or allowed: their links are closed and frames they originate are dropped.",
    },
    max_hops: {
      type: "int",
      default: 3,
      min: 1,
      max: 16,
      doc: "Largest hop count of a federation envelope; a frame that would pass it is dropped (TOO_MANY_HOPS), never forwarded.",
    },
    connect_timeout_ms: {
      type: "int",
      default: 5000,
      min: 100,
      max: 600000,
      doc: "Time a link has to connect and finish its mutual challenge before it is closed and retried.",
    },
    request_timeout_ms: {
      type: "int",
      default: 10000,
      min: 100,
      max: 600000,
      doc: "Time a request relayed to a peer (a forwarded room request, a key-package claim) waits for its answer.",
    },
    keepalive_ms: {
      type: "int",
      default: 5000,
      min: 50,
      max: 600000,
      doc: "Both ends of an up link PING the other this often; a link silent for twice this is closed (and redialed by its dialer), so a partition is noticed from either end. The PONG's round trip is `kalandra_federation_link_rtt_seconds`.",
    },
    reconnect_min_ms: {
      type: "int",
      default: 200,
      min: 10,
      max: 600000,
      doc: "First delay before redialing a lost link; it doubles (with jitter) at each failure up to `reconnect_max_ms`.",
    },
    reconnect_max_ms: {
      type: "int",
      default: 30000,
      min: 10,
      max: 3600000,
      doc: "Longest delay between two dials of a peer whose link keeps failing.",
    },
    peer_rate: {
      type: "int",
      default: 5000,
      min: 1,
      max: 10_000_000,
      reload: true,
      doc: "Frames per second one peer may send on its link (token bucket refill); more are refused with RATE_LIMITED and counted per peer.",
    },
    peer_burst: {
      type: "int",
      default: 10000,
      min: 1,
      max: 10_000_000,
      reload: true,
      doc: "Token bucket size per peer link.",
    },
    retry_after_ms: {
      type: "int",
      default: 250,
      min: 10,
      max: 60000,
      doc: "Retry hint (ms) sent with TRANSFERRING while a room's authority moves and with PEER_UNREACHABLE while the authority's link is down; clients retry after it plus 0–50 % jitter (docs/client.md). Also the resend interval of transfer proposals.",
    },
    failover_after_ms: {
      type: "int",
      default: 10000,
      min: 100,
      max: 3600000,
      doc: "How long a room's authority must be unreachable before a voter proposes a failover (DESIGN §11).",
    },
    ack_quorum: {
      type: "enum",
      default: "majority",
      values: ["majority", "local"],
      doc: '`"majority"`: a frame is acknowledged once a majority of the room\'s voters persisted it, so failover loses no acknowledged frame; `"local"`: once the authority persisted it (a failover may lose the unreplicated tail).',
    },
    enlist_hubs: {
      type: "bool",
      default: true,
      doc: "A room's authority enlists every voter hub (each hub with a member device) as an MLS external sender of the room, by a GroupContextExtensions proposal its members commit, so whichever hub sequences the room after a transfer or a failover can kick (docs/federation.md \"Kicks across hubs\"). `false`: only the creating hub is listed and a kick after a move is refused. Read at start: a SIGHUP reports it as needing a restart; switched off, hubs already listed stay listed (the room's committed state) and no more are proposed.",
    },
    peers: {
      type: "peers",
      default: [],
      doc: "The peer hubs, one `[[federation.peers]]` table each: `domain` (the peer's `server.domain`), `url` (`ws://host:port/kalandra` on loopback, else `wss://`), `hub_key` (its Ed25519 hub public key, 64 hex digits, pinned: a link proves it); instead of `url`, `via` (the domain of a peer with a `url`): a hub with no link of its own, reached through that peer (onward relay, docs/federation.md). A hub not listed here is refused (PEER_NOT_CONFIGURED) and audited. From the environment: a JSON array of such tables.",
    },
  },
  monitoring: {
    listen: {
      type: "address",
      default: "127.0.0.1:9464",
      doc: "HTTP address of /healthz, /readyz and /metrics; empty string disables it.",
    },
    admin_token: {
      type: "string",
      default: "",
      secret: true,
      doc: "Bearer token of the admin API (/admin/*, `kalandrad admin`) and of /metrics; empty = admin API disabled, /metrics open (never logged).",
    },
    required_peers: {
      type: "string[]",
      default: [],
      reload: true,
      doc: "Domains of `federation.peers` whose link must be up for /readyz to answer 200 (the `peer_links` check).",
    },
  },
  web: {
    static_dir: {
      type: "string",
      default: "",
      doc: "Directory of a web app to serve on the WebSocket listener's HTTP port (e.g. `apps/web/dist`, built by `pnpm build`): open `http://host:port/` in a browser. It must hold `index.html`; the app reads the hub's key and sign-in methods from `/.well-known/kalandra.json` there (docs/client.md \"The web app\"). Empty = no web app (plain HTTP requests get 426).",
    },
    http_rate_per_ip: {
      type: "int",
      default: 20,
      min: 1,
      max: 1_000_000,
      doc: "Plain HTTP requests per second one address may make to the web app and `/.well-known/kalandra.json` (token bucket refill); more get 429 with `retry-after`. WebSocket upgrades are not counted.",
    },
    http_burst_per_ip: {
      type: "int",
      default: 100,
      min: 1,
      max: 1_000_000,
      doc: "Token bucket size per address for those requests (a page load fetches a handful of files at once).",
    },
  },
  moderation: {
    retention_max_age_ms: {
      type: "int",
      default: 0,
      min: 0,
      max: Number.MAX_SAFE_INTEGER,
      doc: "Hub-wide default retention: application messages older than this are erased (0 = keep). Rooms may set their own (`kalandrad admin retention`).",
    },
    retention_max_count: {
      type: "int",
      default: 0,
      min: 0,
      max: Number.MAX_SAFE_INTEGER,
      doc: "Hub-wide default retention: only the newest N application messages of a room keep their content (0 = no limit).",
    },
    sweep_interval_ms: {
      type: "int",
      default: 60000,
      min: 100,
      max: 86_400_000,
      doc: "Time between two retention sweeps.",
    },
    moderators: {
      type: "string[]",
      default: [],
      doc: "Authenticated user ids whose devices may send KICK, BAN and REDACT in band (docs/moderation.md): `name@server.domain` under `enrollment` or `oidc`, the self-chosen name under `dev` (docs/identity.md). Others get FORBIDDEN.",
    },
  },
  attachments: {
    max_blob_bytes: {
      type: "int",
      default: 104_857_600,
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
      doc: 'Largest attachment blob in bytes (100 MiB); a larger BLOB_UPLOAD gets BLOB_TOO_LARGE (docs/protocol.md "Attachments").',
    },
    user_quota_bytes: {
      type: "int",
      default: 1_073_741_824,
      min: 0,
      max: Number.MAX_SAFE_INTEGER,
      doc: "Bytes one user may hold in attachment blobs and uploads in progress (1 GiB), counted per shard; beyond it QUOTA_EXCEEDED.",
    },
    room_quota_bytes: {
      type: "int",
      default: 10_737_418_240,
      min: 0,
      max: Number.MAX_SAFE_INTEGER,
      doc: "Bytes one room may hold in attachment blobs and uploads in progress (10 GiB); beyond it QUOTA_EXCEEDED.",
    },
    unreferenced_grace_ms: {
      type: "int",
      default: 86_400_000,
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
      doc: "A complete blob that no message referenced within this long after its upload is erased (24 h).",
    },
    upload_expiry_ms: {
      type: "int",
      default: 86_400_000,
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
      doc: "An upload that received no chunk for this long is discarded; a later chunk gets UPLOAD_EXPIRED (24 h).",
    },
  },
  backup: {
    key_file: {
      type: "string",
      default: "",
      doc: 'The backup key file of `kalandrad backup create` and `kalandrad restore` (32 random bytes as hex, mode 0600; created by the first backup when missing). Every backup\'s own key is stored only wrapped under it: keep it apart from the data directory and from the backups (both are refused as its place), and destroy it to destroy every backup made under it (docs/storage.md "Backups and erasure"). Empty = pass `--key`.',
    },
  },
} as const satisfies Record<string, Record<string, Field>>;

export type Schema = typeof schema;
export type SectionName = keyof Schema;

type ValueOf<F> = F extends { type: "int" }
  ? number
  : F extends { type: "bool" }
    ? boolean
    : F extends { type: "string[]" }
      ? string[]
      : F extends { type: "peers" }
        ? PeerConfig[]
        : string;

/** The validated configuration, one object per section, keys as in the TOML file. */
export type Config = {
  [S in SectionName]: { -readonly [K in keyof Schema[S]]: ValueOf<Schema[S][K]> };
};

/** Every (section, key, field) of the schema, in schema order. */
export function fields(): { section: SectionName; key: string; field: Field }[] {
  const out: { section: SectionName; key: string; field: Field }[] = [];
  for (const [section, keys] of Object.entries(schema) as [SectionName, Record<string, Field>][]) {
    for (const [key, field] of Object.entries(keys)) out.push({ section, key, field });
  }
  return out;
}

/** The configuration used when there is no file and no environment override. */
export function defaultConfig(): Config {
  const out: Record<string, Record<string, unknown>> = {};
  for (const { section, key, field } of fields()) {
    out[section] ??= {};
    (out[section] as Record<string, unknown>)[key] = Array.isArray(field.default)
      ? structuredClone(field.default)
      : field.default;
  }
  return out as Config;
}
