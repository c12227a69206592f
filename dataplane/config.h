/* SPDX-License-Identifier: Apache-2.0
 * weir configuration: one INI file, parsed with libinih, validated once here.
 *
 * Every key is checked in this module and nowhere else; the dataplane copies what
 * it needs into per-core structures before launch.  Errors name file, line and key.
 */
#ifndef WEIR_CONFIG_H
#define WEIR_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEIR_MAX_FIELDS   16   /* value fields per source (record_size <= 144) */
#define WEIR_MAX_AGGS     32   /* aggregates per query */
#define WEIR_MAX_SOURCES  32
#define WEIR_MAX_QUERIES  64
#define WEIR_MAX_DEVICES  16
#define WEIR_MAX_CPUS     256
#define WEIR_MAX_FILTERS  8    /* comparisons in a query's filter */
#define WEIR_NAME_MAX     64
#define WEIR_PATH_MAX     512

#define WEIR_TIME_LIMIT   (INT64_C(1) << 62) /* |event_time| beyond this: bad_time */
#define WEIR_HA_LEASE_MAX INT64_C(10000000000)  /* heartbeat x dead_after, at most */
#define WEIR_DUR_MAX      (INT64_C(1) << 55) /* longest duration accepted (~1.1 years) */

enum weir_ftype { WEIR_F_I64 = 0, WEIR_F_U64, WEIR_F_F64 };
enum weir_format { WEIR_FMT_WEV = 0, WEIR_FMT_ITCH50, WEIR_FMT_LINE };
enum weir_itch_keying { WEIR_ITCH_KEY_SYMBOL = 0, WEIR_ITCH_KEY_LOCATE };
#define WEIR_MAX_PORTS    4    /* UDP ports of one source (A/B feeds) */
#define WEIR_MAX_LP_TAGS  16   /* tags of a line-protocol key */
/* OVER: one result per event, over the partition's events of the last `size` ns
 * (RANGE BETWEEN size PRECEDING AND CURRENT ROW); SELECT: one per event, no state */
enum weir_win { WEIR_WIN_TUMBLING = 0, WEIR_WIN_HOPPING, WEIR_WIN_SESSION, WEIR_WIN_OVER, WEIR_WIN_SELECT };
/* CUR: (OVER and SELECT queries) the current event's value of the field.
 * DISTINCT: COUNT(DISTINCT f) of a window: exact up to WEIR_DISTINCT_EXACT values, then
 * a HyperLogLog sketch of 2^WEIR_HLL_P registers (standard error 1.04 / sqrt(4096) = 1.6 %) */
enum weir_aggfn { WEIR_AGG_COUNT = 0, WEIR_AGG_SUM, WEIR_AGG_MIN, WEIR_AGG_MAX,
                  WEIR_AGG_AVG, WEIR_AGG_FIRST, WEIR_AGG_LAST, WEIR_AGG_CUR, WEIR_AGG_DISTINCT };
#define WEIR_DISTINCT_EXACT 64
#define WEIR_HLL_P          12
#define WEIR_MAX_DISTINCT   3    /* COUNT(DISTINCT) per query (a window's state record stays < 16 KiB) */
enum weir_emit { WEIR_EMIT_WATERMARK = 0, WEIR_EMIT_UPDATE };
enum weir_sink_kind { WEIR_SINK_STDOUT = 0, WEIR_SINK_FILE, WEIR_SINK_UDP };
enum weir_backpressure { WEIR_BP_BLOCK = 0, WEIR_BP_DROP };
enum weir_hugepages { WEIR_HP_AUTO = 0, WEIR_HP_ON, WEIR_HP_OFF };

struct weir_source_cfg {
	char name[WEIR_NAME_MAX];
	enum weir_format format;
	uint16_t udp_port;                 /* = udp_ports[0] */
	uint16_t udp_ports[WEIR_MAX_PORTS];/* several: copies of one feed (A/B), first copy kept */
	int nports;
	uint16_t schema_id;
	uint16_t record_size;              /* 16 + 8 * nfields */
	int nfields;
	char field_name[WEIR_MAX_FIELDS][WEIR_NAME_MAX];
	uint8_t field_type[WEIR_MAX_FIELDS];
	uint8_t field_src[WEIR_MAX_FIELDS]; /* itch50: the trading-event field (enum weir_itch_field) */
	/* format = itch50 */
	char session_date[16];             /* YYYY-MM-DD */
	char timezone[64];                 /* IANA zone of the feed's midnight */
	int64_t day_start;                 /* ns since the epoch of session_date 00:00 in timezone */
	uint32_t itch_types;               /* bit (T - 'A') for each type T that becomes an event */
	uint8_t itch_key;                  /* enum weir_itch_keying */
	uint32_t order_book;               /* live orders held at most per RX core; 0: no book */
	char rerequest_host[256];          /* MoldUDP64 re-request server (empty: no gap recovery) */
	uint16_t rerequest_port;
	int64_t gap_timeout;         /* ns a gap's later messages wait for its retransmission */
	/* format = line */
	char measurement[WEIR_NAME_MAX];   /* only this measurement's lines (empty: any) */
	int ntags;                         /* the key's tags (0: all of a line's) */
	char tags[WEIR_MAX_LP_TAGS][WEIR_NAME_MAX];
	uint8_t precision;                 /* enum weir_lp_prec */
	int64_t watermark_delay;           /* ns */
	int64_t idle_timeout;              /* ns, 0 = off */
	char key_map[WEIR_PATH_MAX];       /* join table key -> key (empty: none) */
	char key_name[WEIR_NAME_MAX];      /* SQL: the record's key also goes by this name (e.g. card) */
	int line;                          /* of the section header */
};

enum weir_cmp { WEIR_CMP_EQ = 0, WEIR_CMP_NE, WEIR_CMP_LT, WEIR_CMP_LE, WEIR_CMP_GT, WEIR_CMP_GE };

/* Does a three-way comparison c (-1, 0 or 1) satisfy rel (enum weir_cmp; past the last
 * one: GE)?  (The INI filter and the SQL expression programs both decide with it.) */
static inline bool
weir_cmp_holds(unsigned rel, int c)
{
	switch (rel) {
	case WEIR_CMP_EQ: return c == 0;
	case WEIR_CMP_NE: return c != 0;
	case WEIR_CMP_LT: return c == -1;
	case WEIR_CMP_LE: return c == -1 || c == 0;
	case WEIR_CMP_GT: return c == 1;
	default:          return c == 1 || c == 0;
	}
}

struct weir_filter_cfg {                   /* field OP value */
	uint8_t field;                     /* index into the source's fields */
	uint8_t op;                        /* enum weir_cmp */
	uint64_t value;                    /* the constant, in the field's type (bits) */
};

/* Expressions (SQL queries): typed stack programs, see expr.h.  A query's programs
 * live in its code[] array; an expression names its part of it. */
#define WEIR_QCODE_MAX    384  /* instructions of all a query's expressions */
#define WEIR_MAX_DERIVED  8    /* computed aggregate inputs per query */
#define WEIR_MAX_OUT      32   /* result columns of a SQL query */
#define WEIR_SQL_MAX      4096 /* bytes of a query's SQL text */

struct weir_insn {
	uint8_t op;                        /* enum weir_xop */
	uint8_t type;                      /* enum weir_ftype of what it pushes (WEIR_F_I64 for booleans) */
	uint16_t arg;                      /* slot, or jump */
	uint32_t pos;                      /* offset in the SQL text (explain, errors) */
	uint64_t k;                        /* constant bits */
};

struct weir_expr {
	uint16_t off, len;                 /* in the query's code[]; len 0: none */
	uint8_t type;                      /* enum weir_ftype of the value */
	bool boolean;                      /* a condition (0/1) */
};

struct weir_out_cfg {                      /* one result column of a SQL query */
	char name[WEIR_NAME_MAX];
	struct weir_expr e;                /* over the result's slots (expr.h: result programs) */
	bool symbol;                       /* SYMBOL(x): x is an ITCH stock key, written as its text */
};

struct weir_agg_cfg {
	uint8_t fn;                        /* enum weir_aggfn */
	int8_t field;                      /* index into the source's fields (>= nfields: derived
					    * input field - nfields), -1 for count */
	uint8_t type;                      /* enum weir_ftype of the field */
	char name[2 * WEIR_NAME_MAX];      /* result field name: count, sum_amount, ... */
};

struct weir_query_cfg {
	char name[WEIR_NAME_MAX];
	int source;                        /* index into weir_config.sources */
	uint8_t window;                    /* enum weir_win */
	int64_t size;                      /* tumbling/hopping size, session gap (ns) */
	int64_t slide;                     /* hopping slide; = size for tumbling */
	int64_t lateness;                  /* allowed_lateness (ns) */
	int naggs;
	struct weir_agg_cfg aggs[WEIR_MAX_AGGS];
	int nfilter;                       /* all must hold (and) */
	struct weir_filter_cfg filter[WEIR_MAX_FILTERS];
	uint8_t sink;                      /* enum weir_sink_kind */
	char sink_path[WEIR_PATH_MAX];     /* file path, or udp host */
	uint16_t sink_port;                /* udp */
	int line;
	/* partitioning: the key the query groups by (the RX core shards by it) */
	int key_field;                     /* -1: the record's key; else a value field (integer) */
	uint8_t emit;                      /* enum weir_emit */
	/* SQL (sql = ...): the text, and what it compiled to besides the fields above */
	bool sql;
	char sql_text[WEIR_SQL_MAX];
	struct weir_expr where;            /* per record, before any aggregate (len 0: none) */
	int nderived;                      /* aggregate inputs computed per record */
	struct weir_expr derived[WEIR_MAX_DERIVED];
	struct weir_expr having;           /* per result (len 0: none) */
	int nout;                          /* result columns (0: the aggregates by their names) */
	struct weir_out_cfg out[WEIR_MAX_OUT];
	int ncode;
	struct weir_insn code[WEIR_QCODE_MAX];
};

struct weir_config {
	char path[WEIR_PATH_MAX];
	/* [dataplane] */
	int ndevices;
	char devices[WEIR_MAX_DEVICES][WEIR_PATH_MAX];
	int rx_cores;
	int workers;
	int ncpus;                         /* 0: lcores = auto */
	int cpus[WEIR_MAX_CPUS];
	uint8_t hugepages;                 /* enum weir_hugepages */
	uint8_t backpressure;              /* enum weir_backpressure */
	bool exit_on_eos;
	char eal_args[1024];
	int64_t idle_sleep;                /* ns; 0 = pure polling */
	unsigned ring_size;                /* records per RX->worker ring (power of 2) */
	bool latency;                      /* per-result latency histograms (stats) */
	bool fused;                        /* RX core i runs worker i on its lcore */
	int sink_rt_priority;              /* SCHED_FIFO priority of the sink loop; 0 = normal */
	int64_t state_headroom;            /* bytes an OVER query keeps populated ahead (per worker) */
	/* [state]: checkpoints (off while state_dir is empty) */
	char state_dir[WEIR_PATH_MAX];
	int64_t checkpoint_interval;       /* ns */
	int state_retain;                  /* complete snapshots kept */
	int state_nice;                    /* nice level of the state thread and RocksDB's */
	/* [ha]: the node's part of an HA pair (off while ha_node is empty) */
	char ha_node[16];
	char ha_peer_host[WEIR_NAME_MAX];
	uint16_t ha_peer_port;
	char ha_listen_host[WEIR_NAME_MAX];   /* heartbeat socket (default: any, the peer's port) */
	uint16_t ha_listen_port;
	char ha_witness_host[WEIR_NAME_MAX];  /* empty: no witness */
	uint16_t ha_witness_port;
	int64_t ha_heartbeat;              /* ns */
	int ha_dead_after;                 /* heartbeats */
	bool ha_failback_auto;
	int64_t ha_hold_down;              /* ns */
	char ha_secret_file[WEIR_PATH_MAX];
	int ha_priority;
	char ha_dir[WEIR_PATH_MAX];        /* the durable term */
	char ha_socket[WEIR_PATH_MAX];     /* the control socket for `weir status` & co */
	int ha_shadow;                     /* results held per worker by a standby */
	int64_t ha_journal;                /* bytes of input a resyncing dataplane may hold */
	bool ha_realtime;                  /* control process: SCHED_FIFO + mlockall */
	/* [admin]: the HTTP server for metrics, stats and the dashboard (off without the section) */
	bool admin;
	char admin_host[WEIR_NAME_MAX];
	uint16_t admin_port;               /* 0: any free port (printed at start) */
	char admin_token_file[WEIR_PATH_MAX];   /* empty: no bearer token */
	int admin_max_clients;             /* connections at once */
	int64_t admin_timeout;             /* ns a connection may stay idle */
	/* sections */
	int nsources;
	struct weir_source_cfg sources[WEIR_MAX_SOURCES];
	int nqueries;
	struct weir_query_cfg queries[WEIR_MAX_QUERIES];
};

/* Parse and validate PATH into *cfg.  Returns 0, or -1 after printing every error
 * as "PATH:LINE: [section] key: message" to err. */
int weir_config_load(const char *path, struct weir_config *cfg, FILE *err);

/* Same, from an in-memory text (for tests and the embedded default). */
int weir_config_load_string(const char *name, const char *text,
			    struct weir_config *cfg, FILE *err);

/* Parse "HOST:PORT" or "[V6]:PORT".  0, or -1. */
int weir_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);

/* Parse a duration such as "50ms", "0", "1s".  Returns 0 and sets *ns, or -1. */
int weir_parse_duration(const char *s, int64_t *ns);

/* Key groups: the queries of a source that partition by the same key share one copy of
 * each record (the RX cores stage one copy per group, to the worker of the group's key).
 * The groups of source s in order of first use, their key fields (enum as key_field)
 * into fields[WEIR_MAX_QUERIES]; returns how many. */
int weir_source_groups(const struct weir_config *cfg, int s, int *fields);
/* The group of query q within its source's. */
int weir_query_group(const struct weir_config *cfg, int q);

/* Print cfg back as INI (the running config). */
void weir_config_dump(const struct weir_config *cfg, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
