package store

// This file declares every bucket and every key a headcount database holds; no other file of the package
// spells a bucket name or a key. The general rules of the format:
//
//   - Every integer is an unsigned 64-bit big-endian value of 8 bytes (encodeUint, decodeUint).
//   - Every time is a whole number of Unix seconds, UTC, stored as such an integer (encodeSeconds,
//     decodeSeconds); only times in the years firstStorableYear to lastStorableYear are stored, so that
//     text keys have four-digit years and sort in time order.
//   - Keys sort chronologically, so range reads are cursor seeks.
//   - The root of the file holds buckets only, and no bucket holds a nested bucket.

// SchemaVersion is the schema this package writes and the newest it reads. Open refuses a file whose
// meta schema value is larger, with ErrNewerSchema, and never writes to it.
//
// Migration notes. Schema 2 split the counts of completed sessions by class: human, bot and unclassified
// (see classValueSize). A writable Open of a schema-1 file migrates it (migrate.go): it first writes a
// copy of the file next to it (migrationBackupSuffix), then, in one write transaction, rewrites every
// bucketDays and bucketWindows value from schema 1's single 8-byte count n to the three counts (0, 0, n)
// — sessions counted before classification existed are unclassified — and stores schema 2. A crash
// leaves the file as it was or migrated, never in between. A read-only Open of a schema-1 file reads
// the single counts as unclassified and writes nothing. Builds that know only schema 1 refuse a
// schema-2 file with ErrNewerSchema, as they refuse any schema above theirs.
//
// Schema 2 grew by additions of the kind described next for schema 1: the replay bucket and the meta key
// replaced_total (log replay), which a file without them reads as no replay and 0.
//
// Schema 1 grew by additions that a reader of the same schema tolerates being absent, without a version bump: the
// imported, windows, set_aside and environment_history buckets, created by the first write that needs
// them, and the meta keys imported_total, set_aside_total, entitlement and usage_transmission, which
// read as 0 or empty when missing. A file written before those additions is a complete schema-1 file
// and opens unchanged. The rules for a change:
//
//   - A new bucket or key that every reader treats as empty when it is missing stays in the current
//     schema; readers must not require it (it is not in requiredBuckets), and writers create it on
//     first use.
//   - A change to the key format or value encoding of an existing bucket or key, or to what a value
//     means, needs SchemaVersion+1 and a migration run by Open in the write transaction that stores
//     the new version. Older builds then refuse the file with ErrNewerSchema rather than misread it.
const SchemaVersion = 2

// Buckets of schema 2. Each comment gives the key format, the value encoding, who writes the bucket and
// who reads it.
var (
	// bucketMeta holds the file's identity and the running counters, under the keys declared below
	// (metaKeys and keyCompletedReasonPrefix). Created with the file.
	bucketMeta = []byte("meta")

	// bucketDays maps a UTC day, key "YYYY-MM-DD" (dayLayout, 10 ASCII bytes), to the sessions completed
	// that day, value their counts by class (classValueSize bytes; in schema 1 one 8-byte count, all
	// unclassified). Created with the file. Flush and Recover add the
	// sessions the agent completed, Import adds the sessions of imported history days. Read by Days,
	// Snapshot, Check, and by Import to refuse a day that already has sessions.
	bucketDays = []byte("days")

	// bucketHours maps a UTC hour, key "YYYY-MM-DDTHH" (hourLayout, 13 ASCII bytes), to that hour's
	// activity, a 24-byte value of three big-endian 8-byte integers: the peak number of live sessions
	// (bytes 0-7), the live session time in milliseconds (8-15) and the time sampled in milliseconds
	// (16-23). Created with the file. Flush merges into it (peaks by maximum, milliseconds by sum). Read
	// by Hours, Snapshot and Check.
	bucketHours = []byte("hours")

	// bucketCoverage maps the start of an interval in which metering was on, key its 8-byte big-endian
	// Unix seconds, to the interval's end, value the same encoding, never before the start. Created with
	// the file. Flush inserts an interval or extends the one with the same start; Import adds one whole
	// UTC day per imported day. Read by Coverage, Snapshot, Check, and by Import to refuse a day the
	// agent metered.
	bucketCoverage = []byte("coverage")

	// bucketImported maps each UTC day imported from another meter, key "YYYY-MM-DD" as in bucketDays, to
	// the sessions imported for it, value an 8-byte big-endian count (also 0). Created by the first
	// Import. Written only by Import, which refuses a day found here, so history is never imported twice;
	// read by Import and by Snapshot when asked for windows (the metrics file writes no windows there).
	bucketImported = []byte("imported")

	// bucketWindows maps the start of a 10-minute window (Window), key its 8-byte big-endian Unix
	// seconds, a multiple of 600, to the sessions completed in it, value their counts by class
	// (classValueSize bytes; in schema 1 one 8-byte count, all unclassified).
	// Created by the first Flush with windows or the first Recover that recovers sessions. Flush adds its
	// windows, Recover adds the recovered sessions to the window of the last flush (of now if there was
	// none). Read by Snapshot when asked for windows, for the tamper-evident metrics file.
	bucketWindows = []byte("windows")

	// bucketHourSessions maps a UTC hour, key "YYYY-MM-DDTHH" (hourLayout), to the sessions completed in
	// it (the hour of their last request, as their day is), value their counts by class
	// (classValueSize bytes). Created by the first Flush that carries them (schema 2). An hour absent
	// here had no completions recorded by hour: none, or before schema 2, or imported; the day's count
	// in bucketDays is the authority. Flush adds the agent's completions, Recover the recovered sessions
	// to the hour of the last flush. Read by Snapshot when asked for hours.
	bucketHourSessions = []byte("hour_sessions")

	// bucketSetAside holds the flush entries Flush could not count where they belong (SetAside): a time
	// outside the storable years, an impossible hour peak, an interval ending before it starts. Key: the
	// flush's sequence number (8 bytes big-endian) then the entry's index in that flush (4 bytes
	// big-endian); value: the entry as a JSON object (SetAside's fields), so that no time needs to be
	// storable to be recorded. Created by the first Flush that sets an entry aside. Read by Check.
	bucketSetAside = []byte("set_aside")

	// bucketEnvironmentHistory records each change of the environment id (keyEnvironment) after the
	// first start stored it, in the order made: key the change's sequence number, an 8-byte big-endian
	// integer from 1 (the bucket's NextSequence); value the change, encoded by encodeEnvironmentChange:
	// the 8-byte big-endian Unix seconds of the change, the 8-byte big-endian length n of the old id, the
	// old id (n bytes of UTF-8 text, none when there was no id) and the new id (the remaining bytes, never
	// empty). Created by the first RenameEnvironment. Written only by RenameEnvironment, in the
	// transaction that changes keyEnvironment; read by EnvironmentHistory.
	bucketEnvironmentHistory = []byte("environment_history")

	// bucketReplay holds what log replay records for its next run over the same logs, under the one key
	// keyReplayState: a JSON object (ReplayState's fields) of times, the sessions replay stored on the
	// days a next run may add to, and per log file its name, identity (device and inode), size and an
	// offset, never anything of a line. Created by the first ReplayFlush, which rewrites it in the
	// transaction of its counts; read by ReplayState. A file without it has no replay to resume.
	bucketReplay = []byte("replay")
)

// keyReplayState is the one key of bucketReplay.
var keyReplayState = []byte("state")

// requiredBuckets are created with every file, and Open rejects a file that lacks one with ErrCorrupt.
var requiredBuckets = [][]byte{bucketMeta, bucketDays, bucketHours, bucketCoverage}

// schemaBuckets lists every bucket of schema 2: requiredBuckets and those created on first use.
var schemaBuckets = [][]byte{bucketMeta, bucketDays, bucketHours, bucketCoverage, bucketImported, bucketWindows, bucketSetAside,
	bucketEnvironmentHistory, bucketHourSessions, bucketReplay}

// Keys of bucketMeta. Counters are 8-byte big-endian integers, times 8-byte big-endian Unix seconds;
// a missing counter reads as 0 and a missing time as the zero time.
var (
	// keyMagic holds magicValue. Written when the file is created; Open rejects a file without it with
	// ErrNotHeadcount.
	keyMagic = []byte("magic")

	// keySchema holds the schema version, an 8-byte big-endian integer. Written when the file is created;
	// Open rejects 0 or a missing value with ErrCorrupt and one above SchemaVersion with ErrNewerSchema.
	keySchema = []byte("schema")

	// keyEnvironment holds the environment id as UTF-8 text. Written by SetEnvironment, only when it is
	// missing or empty, so the first start's value is kept, and by RenameEnvironment, which records each
	// change in bucketEnvironmentHistory. Read by SetEnvironment, RenameEnvironment, Environment and
	// Snapshot.
	keyEnvironment = []byte("environment")

	// keyLastFlush holds the time of the last flush. Written by Flush; read by Recover (the day recovered
	// sessions are counted on) and Counters.
	keyLastFlush = []byte("last_flush")

	// keyFlushCount counts the flushes, and is thereby the sequence number of the last flush applied
	// (0 when missing). Flush stores its Flush.Seq here in the same transaction as the counts, and
	// refuses a flush whose Seq is not the stored value plus 1, so a flush whose commit failed but
	// landed is never applied again; the agent reads it (FlushSeq) after a failed commit to decide
	// whether such a flush landed. Files written before the sequence rule hold the count of their
	// flushes, and their sequence continues from it. Read by FlushSeq, Counters and Check.
	keyFlushCount = []byte("flush_count")

	// keyStartedTotal counts the sessions the agent started. Added to by Flush; read by Recover, Counters
	// and Check.
	keyStartedTotal = []byte("started_total")

	// keyCompletedTotal counts the sessions the agent completed, for any reason; imported history is not
	// in it. Added to by Flush and Recover; read by Recover, Counters, CompletedTotal and Check.
	keyCompletedTotal = []byte("completed_total")

	// keyImportedTotal counts the sessions imported from another meter. Added to by Import; read by Check,
	// for which the days sum to keyCompletedTotal plus keyImportedTotal.
	keyImportedTotal = []byte("imported_total")

	// keySetAsideTotal counts the completed sessions whose day Flush set aside (bucketSetAside): they are
	// in keyCompletedTotal but in no day. Added to by Flush; read by Check, for which the days sum to
	// keyCompletedTotal plus keyImportedTotal minus keySetAsideTotal.
	keySetAsideTotal = []byte("set_aside_total")

	// keyEntitlement holds the entitlement checker's state, a JSON document the store stores verbatim
	// and does not interpret. Written by SetEntitlementState; read by EntitlementState.
	keyEntitlement = []byte("entitlement")

	// keyUsageTransmission holds the usage transmitter's state, a JSON document the store stores verbatim
	// and does not interpret. Written by SetUsageState; read by UsageState.
	keyUsageTransmission = []byte("usage_transmission")

	// keyReplacedTotal counts the completed sessions ReplayFlush removed from days it replaced: they are
	// in keyCompletedTotal (or keyImportedTotal) but in no day any more. Added to by ReplayFlush; read by
	// Check, for which the days sum to keyCompletedTotal plus keyImportedTotal minus keySetAsideTotal
	// minus keyReplacedTotal.
	keyReplacedTotal = []byte("replaced_total")
)

// metaKeys lists every fixed key of bucketMeta; the only other keys there start with
// keyCompletedReasonPrefix.
var metaKeys = [][]byte{
	keyMagic, keySchema, keyEnvironment, keyLastFlush, keyFlushCount,
	keyStartedTotal, keyCompletedTotal, keyImportedTotal, keySetAsideTotal, keyEntitlement, keyUsageTransmission,
	keyReplacedTotal,
}

const (
	// magicValue is the value of keyMagic that marks a file as a headcount database.
	magicValue = "headcount"

	// keyCompletedReasonPrefix starts the bucketMeta keys that count the sessions completed for one
	// reason: keyCompletedReasonPrefix+reason (see completedReasonKey), an 8-byte big-endian counter.
	// Flush adds to the reasons the agent gives ("idle", "max", "logout", "shutdown"), Recover to
	// reasonRecovered. Read by Counters and by Check, for which they sum to keyCompletedTotal.
	keyCompletedReasonPrefix = "completed_total_"

	// reasonRecovered is the completion reason Recover counts sessions under.
	reasonRecovered = "recovered"
)

// Key layouts and value sizes.
const (
	// dayLayout is the time layout of the keys of bucketDays and bucketImported.
	dayLayout = "2006-01-02"
	// hourLayout is the time layout of the keys of bucketHours.
	hourLayout = "2006-01-02T15"
	// hourValueSize is the length of a bucketHours value.
	hourValueSize = 24
	// classValueSize is the length of a value of counts by class (bucketDays, bucketWindows,
	// bucketHourSessions): three 8-byte big-endian counts, of the sessions classified as people (bytes
	// 0-7), as bots (8-15) and not classified (16-23).
	classValueSize = 24
	// migrationBackupSuffix is appended to a database's path to name the copy a migration writes
	// before it changes the file: PATH.schema-1.backup for schema 1.
	migrationBackupSuffix = ".schema-%d.backup"
	// uintValueSize is the length of every integer and time, as a key or a value.
	uintValueSize = 8
	// firstStorableYear and lastStorableYear bound the UTC years of the times stored.
	firstStorableYear = 1970
	lastStorableYear  = 9999
)
