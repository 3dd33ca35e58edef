// Everything the gateway nodes of one cluster share in NATS, by name: JetStream streams and
// consumers, KV buckets and core NATS subjects. `citygw cluster status` and the README use these.

/** Accepted telemetry (and `rejected` / `alarms` points) as line protocol, one message per group commit. Work-queue retention: a message leaves once the InfluxDB writer acknowledged it. */
export const TELEMETRY_STREAM = 'csg-telemetry'
export const TELEMETRY_SUBJECT = 'csg.telemetry'
/** The durable consumer every node's InfluxDB writer pulls from. */
export const WRITER_CONSUMER = 'influx-writer'

/** Lines InfluxDB refused, with the reason (the cluster's quarantine). */
export const QUARANTINE_STREAM = 'csg-quarantine'
export const QUARANTINE_SUBJECT = 'csg.quarantine'

/** Devices, crews and operators (keys `device.<id>`, `crew.<name>`, `operator.<name>`). */
export const REGISTRY_BUCKET = 'csg-registry'
/** Open (and last cleared) alarm per device and type, changed by compare-and-set. */
export const ALARMS_BUCKET = 'csg-alarms'
/** Leases (the offline check), kept alive by their holder; a key expires when it stops renewing. */
export const LEASES_BUCKET = 'csg-leases'
/** One key per live gateway node, renewed by the node; expires when the node is gone. */
export const NODES_BUCKET = 'csg-nodes'
/** API sessions and trusted-device tokens (key: the session's public id; the token only as a hash). */
export const SESSIONS_BUCKET = 'csg-sessions'
/** Maintenance windows (key: the window's id). */
export const MAINTENANCE_BUCKET = 'csg-maintenance'
/** The open (or last closed) incident per district, device group and alarm family, changed by compare-and-set. */
export const INCIDENTS_BUCKET = 'csg-incidents'

/** Core NATS: a node announces each MQTT client id it accepted, so other nodes drop an older connection of the same id. */
export const SESSION_CLAIM_SUBJECT = 'csg.session.claim'
/** Core NATS: each node's digest of the devices it heard from in the last interval (shared last-seen). */
export const SEEN_SUBJECT = 'csg.seen'

/** The key of the offline-check lease in LEASES_BUCKET; its value names the holder. */
export const OFFLINE_LEASE_KEY = 'offline-check'

/** Core NATS: SensorThings Observations of readings a node accepted, while another node has STA subscribers. */
export const STA_OBSERVATIONS_SUBJECT = 'csg.sta.observations'
/** Core NATS: a node's STA subscription interest (renewed while it has subscribers) and start-up hellos. */
export const STA_INTEREST_SUBJECT = 'csg.sta.interest'
/** Per NGSI-LD entity the newest attributes any node's export claimed (the export's send guard). */
export const NGSI_NEWEST_BUCKET = 'csg-ngsi-newest'
